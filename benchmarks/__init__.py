"""Benchmarks: commands that measure and write JSON into `benchmarks/results/`.

They take their data (a simulated world, or a path to a public data set) as arguments and never
copy data into the repository. Speed targets are checked here, not in timed tests.
"""
