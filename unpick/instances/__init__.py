"""Instances from a semantic particle mask: connected components or watershed, size filters, centroids."""

from ._config import InstanceConfig, InstanceLimits
from ._extract import Instances, extract_instances, label_components
from ._operating_point import OperatingPoint, choose_operating_level

__all__ = [
    "InstanceConfig",
    "InstanceLimits",
    "Instances",
    "OperatingPoint",
    "choose_operating_level",
    "extract_instances",
    "label_components",
]
