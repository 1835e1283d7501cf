// segspark's test cluster: one HDFS (NameNode + DataNode) and one YARN (ResourceManager + NodeManager)
// in this JVM, from Hadoop's own MiniDFSCluster and MiniYARNCluster (the daemons' real code, in-process).
// Run by scripts/test-cluster.sh with Java's single-file launcher: java -cp 'build/jars/test-cluster/*' TestCluster.java STATE_DIR
// It writes STATE_DIR/conf/{core,hdfs,yarn}-site.xml (what a client needs: the HDFS as fs.defaultFS,
// the ResourceManager's addresses), then STATE_DIR/ready, and runs until it is killed.

import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.Map;
import java.util.TreeMap;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

public class TestCluster {
  public static void main(String[] args) throws Exception {
    File state = new File(args[0]).getAbsoluteFile();
    int nameNodePort = Integer.parseInt(env("SEGSPARK_TC_NAMENODE_PORT", "19820"));
    int resourceManagerPort = Integer.parseInt(env("SEGSPARK_TC_RM_PORT", "18032"));
    int nodeManagerMb = Integer.parseInt(env("SEGSPARK_TC_NODEMANAGER_MB", "8192"));
    String host = "127.0.0.1";

    Configuration conf = new YarnConfiguration();
    conf.set("hadoop.tmp.dir", new File(state, "tmp").getPath());
    conf.set("dfs.namenode.rpc-bind-host", host);
    conf.set("dfs.namenode.http-address", host + ":0");
    conf.set("dfs.datanode.address", host + ":0");
    conf.set("dfs.datanode.http.address", host + ":0");
    conf.set("dfs.datanode.ipc.address", host + ":0");
    conf.setInt("dfs.replication", 1);
    // Clients on this machine reach the DataNode by its loopback address.
    conf.setBoolean("dfs.client.use.datanode.hostname", false);
    MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf, new File(state, "hdfs"))
        .nameNodePort(nameNodePort).numDataNodes(1).format(true).build();
    dfs.waitActive();
    String defaultFs = "hdfs://" + host + ":" + nameNodePort;
    conf.set("fs.defaultFS", defaultFs);

    // YARN on fixed loopback ports; containers may use what they ask for (no memory checks: a
    // PySpark executor's Python workers live in its container's process tree, which one machine's
    // test cannot size as a cluster's operator would).
    conf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_FIXED_PORTS, true);
    conf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_USE_RPC, true);
    conf.set(YarnConfiguration.RM_HOSTNAME, host);
    conf.set(YarnConfiguration.RM_ADDRESS, host + ":" + resourceManagerPort);
    conf.set(YarnConfiguration.RM_SCHEDULER_ADDRESS, host + ":" + (resourceManagerPort - 2));
    conf.set(YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, host + ":" + (resourceManagerPort - 1));
    conf.set(YarnConfiguration.RM_ADMIN_ADDRESS, host + ":" + (resourceManagerPort + 1));
    conf.set(YarnConfiguration.RM_WEBAPP_ADDRESS, host + ":" + (resourceManagerPort + 56));
    conf.set(YarnConfiguration.NM_ADDRESS, host + ":0");
    conf.set(YarnConfiguration.NM_LOCALIZER_ADDRESS, host + ":0");
    conf.set(YarnConfiguration.NM_WEBAPP_ADDRESS, host + ":0");
    conf.setInt(YarnConfiguration.NM_PMEM_MB, nodeManagerMb);
    conf.setInt(YarnConfiguration.NM_VCORES, 4);
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, nodeManagerMb);
    conf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
    conf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
    conf.set("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", "99.9");
    conf.setInt(YarnConfiguration.RM_AM_MAX_ATTEMPTS, 2);
    // Containers' working folders stay an hour after they end, for a look at what a job left there.
    conf.setInt(YarnConfiguration.DEBUG_NM_DELETE_DELAY_SEC, 3600);
    // One queue, first come first served: the CapacityScheduler wants a queue file of its own.
    conf.set(YarnConfiguration.RM_SCHEDULER,
        "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler");
    MiniYARNCluster yarn = new MiniYARNCluster("segspark-test-cluster", 1, 1, 1);
    yarn.init(conf);
    yarn.start();
    if (!yarn.waitForNodeManagersToConnect(60000)) {
      throw new IllegalStateException("the NodeManager did not connect to the ResourceManager in 60 s");
    }

    Configuration live = yarn.getConfig();
    File confDir = new File(state, "conf");
    confDir.mkdirs();
    Map<String, String> core = new TreeMap<>();
    core.put("fs.defaultFS", defaultFs);
    write(new File(confDir, "core-site.xml"), core);
    Map<String, String> hdfs = new TreeMap<>();
    hdfs.put("dfs.replication", "1");
    hdfs.put("dfs.client.use.datanode.hostname", "false");
    write(new File(confDir, "hdfs-site.xml"), hdfs);
    Map<String, String> yarnSite = new TreeMap<>();
    for (String key : new String[] {
        YarnConfiguration.RM_HOSTNAME, YarnConfiguration.RM_ADDRESS, YarnConfiguration.RM_SCHEDULER_ADDRESS,
        YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, YarnConfiguration.RM_ADMIN_ADDRESS,
        YarnConfiguration.RM_WEBAPP_ADDRESS}) {
      yarnSite.put(key, live.get(key));
    }
    yarnSite.put(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, "128");
    yarnSite.put(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, String.valueOf(nodeManagerMb));
    write(new File(confDir, "yarn-site.xml"), yarnSite);
    Files.writeString(new File(state, "ready").toPath(), defaultFs + " " + live.get(YarnConfiguration.RM_ADDRESS) + "\n");
    System.err.println("segspark test cluster: HDFS " + defaultFs + ", YARN " + live.get(YarnConfiguration.RM_ADDRESS)
        + ", web " + live.get(YarnConfiguration.RM_WEBAPP_ADDRESS));

    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      yarn.stop();
      dfs.shutdown();
    }));
    Thread.currentThread().join();
  }

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isEmpty() ? fallback : value;
  }

  private static void write(File file, Map<String, String> properties) throws Exception {
    Configuration out = new Configuration(false);
    properties.forEach(out::set);
    File temporary = new File(file.getPath() + ".tmp");
    try (OutputStream stream = new FileOutputStream(temporary)) {
      out.writeXml(stream);
    }
    Files.move(temporary.toPath(), file.toPath(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }
}
