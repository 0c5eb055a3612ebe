"""Before/after of the GMM defaults: covariance type and reg_covar, on one simulated tomogram.

Usage: python benchmarks/bench_gmm_defaults.py

The three GMM connected-component workflows on a 48×112×112 simulated tomogram (30 particles of
five shapes, noise 0.5, a membrane, two gold beads; seed 5), for the scikit-learn-like
setting (full covariance, reg_covar 1e-3) and the alternatives tried; F1 one-to-one at 100 Å.
"""

from __future__ import annotations

import logging
import time

from unpick import picks_zyx
from unpick.evaluate import score_points
from unpick.synthetic import SimulationConfig, simulate_tomogram
from unpick.workflows import PickConfig, pick_tomogram

SETTINGS = [("full", 1e-3), ("full", 0.05), ("full", 0.3), ("diag", 0.3), ("tied", 0.05), ("tied", 0.3)]
WORKFLOWS = "intensities-gmm-cc,fft-gmm-cc,gabor-gmm-cc"


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    sim = simulate_tomogram(SimulationConfig(shape_zyx=(48, 112, 112), n_particles=30, noise=0.5, seed=5))
    truth = picks_zyx(sim.truth)
    print("| covariance | reg_covar | " + " | ".join(WORKFLOWS.split(",")) + " | seconds |")
    print("|---" * 6 + "|")
    for covariance, reg in SETTINGS:
        config = PickConfig().with_particle_radius(60.0)
        config = config.replace(gmm=config.gmm.replace(covariance_type=covariance, reg_covar=reg))
        start = time.perf_counter()
        result = pick_tomogram(sim.volume, voxel_size_angstrom=10.0, workflows=WORKFLOWS, config=config)
        seconds = time.perf_counter() - start
        f1 = [score_points(picks_zyx(result.picks[w]), truth, radius_voxels=10.0)["f1"] for w in WORKFLOWS.split(",")]
        print(f"| {covariance} | {reg:g} | " + " | ".join(f"{v:.2f}" for v in f1) + f" | {seconds:.1f} |")


if __name__ == "__main__":
    main()
