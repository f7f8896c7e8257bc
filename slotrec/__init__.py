"""slotrec: recommendations for online-casino slot lobbies.

This small package holds what has no home in the stage folders: the shared data contract
(`schema`), settings, the command line, the pipeline orchestration and the world simulator.
"""

__version__ = "0.1.0"
