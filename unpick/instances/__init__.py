"""Instances from a semantic particle mask: connected components or watershed, size filters, centroids."""

from ._config import InstanceConfig, InstanceLimits
from ._extract import Instances, check_particle_fits, extract_instances, label_components
from ._nested_components import Components, nested_components
from ._operating_point import OperatingPoint, choose_operating_level

__all__ = [
    "Components",
    "InstanceConfig",
    "InstanceLimits",
    "Instances",
    "OperatingPoint",
    "check_particle_fits",
    "choose_operating_level",
    "extract_instances",
    "label_components",
    "nested_components",
]
