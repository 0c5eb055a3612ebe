"""Configuration of the two-cluster voxel classifier."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from .._shared import StageConfig, UnpickInputError, check_choice, check_int, check_positive

METHODS = ("kmeans", "gmm")
COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")
PARTICLE_RULES = ("auto", "smaller", "darker", "brighter", "0", "1")
#: The feature modes each method whitens when ``whiten_modes`` is left out (benchmarks/README.md,
#: "Whitened FFT magnitudes for K-Means"): K-Means gains on fft and loses on intensities; the GMM
#: models the covariance itself and loses on both.
DEFAULT_WHITEN_MODES = {"kmeans": ("fft",), "gmm": ()}


@dataclasses.dataclass(frozen=True)
class ClusterConfig(StageConfig):
    """How voxels are split into particle and background.

    ``n_init`` is read by K-Means only, ``covariance_type`` and ``reg_covar`` by the GMM only
    (``ONLY_FOR``): the other method's config refuses a value for them other than the default, and
    ``to_dict`` leaves them out. Whitening applies to both (the GMM's default is none).

    Parameters
    ----------
    method : {'kmeans', 'gmm'}
        scikit-learn ``KMeans`` or ``GaussianMixture`` with two clusters.
    n_init : int
        K-Means restarts (the best inertia wins); K-Means only: the GMM uses one start,
        initialised by scikit-learn's own K-Means.
    covariance_type : {'full', 'diag', 'tied', 'spherical'}
        GMM covariance structure (GMM only). 'tied' is the default: with 'full', the
        particle component tends to capture a low-variance sliver (e.g. voxels clipped by the
        robust scaling) rather than the blobs, and the fit is about 6x slower on 125 features (the tied
        fit's EM steps are linear in the features, ``TiedGaussianMixture``).
    max_iter : int
        Iteration cap of either fit.
    particle_cluster : {'auto', 'smaller', 'darker', 'brighter', '0', '1'}
        Rule that names the particle cluster; see ``fit_clusterer``.
    sample_voxels : int
        How many voxels the workflow samples (seeded) to fit the clusterer.
    reg_covar : float
        Added to the GMM covariance diagonal (GMM only; features are standardised, so this is relative to
        a unit variance): the 125 shifted intensities of a blurred volume are nearly collinear, and
        scikit-learn's 1e-6 leaves their covariance singular; 0.3 shrinks the near-null directions
        so the split follows the blobs (chosen on simulated tomograms, see benchmarks/README.md).
    whiten_modes : tuple of str
        Feature modes ('intensities', 'fft', 'gabor') whose z-scored features are also
        **whitened** on the fit sample before this clusterer sees them: rotated onto their principal
        axes, each divided by ``sqrt(variance + whiten_shrinkage)``. K-Means measures plain
        Euclidean distances, so on a bank of correlated features it splits along whatever most
        features repeat: the 62 AC magnitudes of the local FFT all grow with the local contrast, and
        2-means on them splits texture from smooth background rather than protein from solvent.
        Whitened, every independent direction counts once. Whitening is linear, so the decision
        stays one filter. None (left out) takes the method's default, ``DEFAULT_WHITEN_MODES``:
        fft for K-Means, none for the GMM (measured: whitening hurts the intensities workflows and
        the GMM, and does nothing for the near rank-one Gabor bank).
    whiten_shrinkage : float
        Added to each principal variance before dividing (relative to the unit variance of a
        z-scored feature): directions well above it are whitened to unit variance, those well below
        it (rounding, the finest noise) are shrunk instead of blown up.
    """

    VARIANT_FIELD: ClassVar[str] = "method"
    #: The options only one method reads, with that method; every other option applies to both.
    ONLY_FOR: ClassVar[dict[str, tuple[str, ...]]] = {"n_init": ("kmeans",), "covariance_type": ("gmm",), "reg_covar": ("gmm",)}

    method: str = "kmeans"
    n_init: int = 4
    covariance_type: str = "tied"
    max_iter: int = 100
    particle_cluster: str = "auto"
    sample_voxels: int = 200_000
    reg_covar: float = 0.3
    whiten_modes: tuple[str, ...] | None = None
    whiten_shrinkage: float = 0.3

    def __post_init__(self) -> None:
        if isinstance(self.particle_cluster, int) and not isinstance(self.particle_cluster, bool):
            # YAML reads an unquoted 0/1 as an integer: accept it as the explicit cluster index
            object.__setattr__(self, "particle_cluster", str(self.particle_cluster))
        check_choice(self.method, "cluster method", METHODS)
        check_int(self.n_init, "n_init", minimum=1)
        check_choice(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        check_int(self.max_iter, "max_iter", minimum=1)
        check_choice(self.particle_cluster, "particle_cluster", PARTICLE_RULES)
        check_int(self.sample_voxels, "sample_voxels", minimum=10)
        check_positive(self.reg_covar, "reg_covar")
        modes = DEFAULT_WHITEN_MODES[self.method] if self.whiten_modes is None else self.whiten_modes
        if isinstance(modes, str) or not all(isinstance(m, str) for m in modes) or len(set(modes)) != len(modes):
            raise UnpickInputError(
                f"whiten_modes: expected a list of distinct feature modes (e.g. [fft]), got {modes!r}"
            )
        object.__setattr__(self, "whiten_modes", tuple(modes))
        check_positive(self.whiten_shrinkage, "whiten_shrinkage")
        super().__post_init__()
