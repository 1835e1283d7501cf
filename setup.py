"""The wheel carries segspark's default settings, source formats and Spark defaults as package data.

They live in the repository's conf/ (where a checkout reads them); building the wheel copies them to
segspark/conf/ inside it, where an installed segspark reads them (segspark.config.conf_resource).
MANIFEST.in puts conf/ in the sdist, so a wheel built from the sdist (`python -m build`) has them too.
Everything else about the package is in setup.cfg.
"""

from pathlib import Path
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

CONF_FILES = ["segspark.toml", "spark-defaults.conf", "log4j2.properties", "formats/*.toml", "features/*.toml", "features/examples/*.toml"]


class BuildWithConf(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "segspark" / "conf"
        for pattern in CONF_FILES:
            found = sorted(Path("conf").glob(pattern))
            if not found:  # an sdist without conf/ (MANIFEST.in) would give a wheel that cannot start
                raise SystemExit(f"setup.py: no conf/{pattern} to put in the wheel (is MANIFEST.in in the sdist?)")
            for source in found:
                destination = target / source.relative_to("conf")
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)


setup(cmdclass={"build_py": BuildWithConf})
