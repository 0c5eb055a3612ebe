"""Preprocessing and the three streamed feature modes (intensities, fft, gabor).

Every feature of a voxel is a correlation of the preprocessed volume with a 5×5×5 kernel,
computed as fast separable filter passes chunk by chunk along z (:meth:`FeatureBank.iter_chunks`)
or, at chosen voxels, as explicit neighbourhoods times :func:`kernel_matrix`
(:meth:`FeatureBank.at_voxels`).
"""

from ._bank import FeatureBank, build_feature_bank, kernel_matrix
from ._fiducials import FIDUCIAL_BLUR, PLAUSIBLE_FIDUCIALS, Fiducials, exclude_fiducials, find_fiducials
from ._membranes import Membranes, bin_for_membranes, exclude_membranes, find_membranes, membranes_in_binned
from ._config import MODES, FeatureConfig, PreprocessConfig, gabor_bank_size
from ._preprocess import blur_tomogram, preprocess, rescale_robustly
from ._sampling import sample_interior_voxels
from ._specimen import SpecimenSlab, find_specimen_slab

__all__ = [
    "FIDUCIAL_BLUR",
    "MODES",
    "FeatureBank",
    "FeatureConfig",
    "Fiducials",
    "PLAUSIBLE_FIDUCIALS",
    "Membranes",
    "PreprocessConfig",
    "SpecimenSlab",
    "bin_for_membranes",
    "blur_tomogram",
    "build_feature_bank",
    "exclude_fiducials",
    "exclude_membranes",
    "find_fiducials",
    "find_membranes",
    "find_specimen_slab",
    "gabor_bank_size",
    "kernel_matrix",
    "membranes_in_binned",
    "preprocess",
    "rescale_robustly",
    "sample_interior_voxels",
]
