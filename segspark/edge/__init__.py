"""The edge: paths, files, the SparkSession and the command line; the only package that touches them.

`paths` (what a path is, qualified by Hadoop), `runs` (run folders and LATEST), `session` (the
SparkSession with the settings the guarantees rest on), `inputs` (input files and their checks),
`outputs` (what a run writes), `workflow` (the steps both jobs share), `cli` (one-line errors and
exit codes). The stages below it take and give DataFrames and plain values.
"""
