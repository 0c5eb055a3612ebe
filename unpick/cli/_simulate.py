"""``unpick simulate``: write a synthetic tomogram (MRC), its ground truth (CSV) and its config (YAML)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ._options import add_seed_option, seed_from_args

logger = logging.getLogger(__name__)

# the library defaults, repeated here so ``--help`` stays instant (a test checks they agree)
DEFAULTS = {
    "shape_zyx": (64, 128, 128),
    "voxel_size_angstrom": 10.0,
    "n_particles": 50,
    "noise": 1.0,
    "n_fiducials": 2,
    "missing_wedge_degrees": 60.0,
    "bandpass_angstrom": (20.0, 300.0),
}
_SHAPE = " ".join(map(str, DEFAULTS["shape_zyx"]))
_BANDPASS = " ".join(f"{v:g}" for v in DEFAULTS["bandpass_angstrom"])


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate",
        help="write a synthetic tomogram with exact ground truth",
        description=(
            "Simulate a cryo-ET tomogram (particles of several shapes, a membrane, gold fiducials, "
            "a missing wedge, a CTF-like band-pass, noise) and write OUT_DIR/NAME.mrc, "
            "OUT_DIR/NAME_particles.csv (x, y, z in voxels and Å, class, radius_angstrom) and "
            "OUT_DIR/NAME_config.yaml. The same options always give the same files."
        ),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="output folder (created if missing)")
    parser.add_argument(
        "--shape",
        nargs=3,
        type=int,
        metavar=("Z", "Y", "X"),
        default=DEFAULTS["shape_zyx"],
        help=f"volume size in voxels (default: {_SHAPE})",
    )
    parser.add_argument(
        "--voxel-size",
        type=float,
        metavar="Å",
        default=DEFAULTS["voxel_size_angstrom"],
        help="voxel edge in Å (default: %(default)s)",
    )
    parser.add_argument(
        "--n-particles",
        type=int,
        metavar="N",
        default=DEFAULTS["n_particles"],
        help="number of particles, split evenly over the classes (default: %(default)s)",
    )
    parser.add_argument(
        "--classes",
        nargs="+",
        metavar="CLASS",
        default=None,
        help="particle classes (default: all of large-solid medium-hollow elongated small-solid ring)",
    )
    parser.add_argument(
        "--noise",
        type=float,
        metavar="K",
        default=DEFAULTS["noise"],
        help="noise std relative to the noise-free signal std; 0 = none, 0.5 low, 1.5 high (default: %(default)s)",
    )
    parser.add_argument(
        "--bright-protein", action="store_true", help="protein brighter than the background (default: dark)"
    )
    parser.add_argument("--no-membrane", action="store_true", help="leave out the curved 40 Å membrane")
    parser.add_argument(
        "--fiducials",
        type=int,
        metavar="N",
        default=DEFAULTS["n_fiducials"],
        help="number of 50 Å gold beads (default: %(default)s)",
    )
    wedge = parser.add_mutually_exclusive_group()
    wedge.add_argument(
        "--missing-wedge",
        type=float,
        metavar="DEG",
        default=DEFAULTS["missing_wedge_degrees"],
        help="full opening angle of the missing wedge in degrees, tilt axis y; 60 = ±60° tilts (default: %(default)s)",
    )
    wedge.add_argument("--no-missing-wedge", action="store_true", help="keep all of Fourier space")
    bandpass = parser.add_mutually_exclusive_group()
    bandpass.add_argument(
        "--bandpass",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        default=DEFAULTS["bandpass_angstrom"],
        help=f"periods in Å kept by the CTF-like band-pass (default: {_BANDPASS})",
    )
    bandpass.add_argument("--no-bandpass", action="store_true", help="no band-pass filter")
    add_seed_option(parser, what="the simulation")
    parser.add_argument("--name", default="synthetic", help="base name of the output files (default: %(default)s)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from .._shared import UnpickInputError
    from ..synthetic import CATALOGUE, SimulationConfig, simulate_tomogram
    from ..workflows import save_simulation

    if not args.name or Path(args.name).name != args.name:
        raise UnpickInputError(f"--name: expected a plain file name without folders, got {args.name!r}")
    config = SimulationConfig(
        shape_zyx=tuple(args.shape),
        voxel_size_angstrom=args.voxel_size,
        particle_classes=tuple(args.classes) if args.classes else tuple(CATALOGUE),
        n_particles=args.n_particles,
        membrane=not args.no_membrane,
        n_fiducials=args.fiducials,
        missing_wedge_degrees=None if args.no_missing_wedge else args.missing_wedge,
        bandpass_angstrom=None if args.no_bandpass else tuple(args.bandpass),
        noise=args.noise,
        protein_dark=not args.bright_protein,
        seed=seed_from_args(args),
    )
    out_dir: Path = args.out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UnpickInputError(f"OUT_DIR {out_dir}: cannot create the folder ({err}); choose another path") from err
    tomogram = simulate_tomogram(config)

    mrc_path, truth_path, config_path = save_simulation(tomogram, out_dir, args.name)
    logger.info(
        "wrote %s (%s voxels at %g Å), %s (%d particles, %.1f%% of the volume) and %s",
        mrc_path,
        "x".join(map(str, config.shape_zyx)),
        config.voxel_size_angstrom,
        truth_path,
        len(tomogram.truth),
        100 * tomogram.occupancy,
        config_path,
    )
    return 0
