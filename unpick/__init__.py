"""unpick: annotation-free particle picking in cryo-electron tomograms."""

__version__ = "0.1.0"
