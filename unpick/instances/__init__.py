"""Instances from a semantic particle mask: connected components or watershed, size filters, centroids."""

from ._config import InstanceConfig, InstanceLimits
from ._extract import Instances, extract_instances

__all__ = ["InstanceConfig", "InstanceLimits", "Instances", "extract_instances"]
