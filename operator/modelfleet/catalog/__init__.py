"""Facts about GPUs, models and licences, from data files shipped with the package.

Pure: no I/O beyond reading the package's own data files (once, cached) and, in :mod:`.hf`, the
config.json / safetensors index files a caller points at.

>>> get_gpu("H100-80GB").memory_bytes // 1024**3, get_model("moonshotai/Kimi-K2.6").license
(80, 'modified-mit')
"""

from modelfleet.catalog.errors import CatalogError
from modelfleet.catalog.facts import applicable_facts, missing_facts
from modelfleet.catalog.hf import facts_from_config, merge_facts, read_config_json, weight_bytes_from_index
from modelfleet.catalog.license import (
    LICENSE_ALLOWED,
    LICENSE_NEEDS_ACCEPTANCE,
    LICENSE_REFUSED,
    LICENSE_UNKNOWN,
    LicenseCategory,
    LicenseDecision,
    LicenseInfo,
    LicensePolicy,
    evaluate_license,
    license_catalog,
)
from modelfleet.catalog.loader import get_gpu, get_model, gpu_catalog, gpu_for_product, model_catalog

__all__ = [
    "LICENSE_ALLOWED",
    "LICENSE_NEEDS_ACCEPTANCE",
    "LICENSE_REFUSED",
    "LICENSE_UNKNOWN",
    "CatalogError",
    "LicenseCategory",
    "LicenseDecision",
    "LicenseInfo",
    "LicensePolicy",
    "applicable_facts",
    "evaluate_license",
    "facts_from_config",
    "get_gpu",
    "get_model",
    "gpu_catalog",
    "gpu_for_product",
    "license_catalog",
    "merge_facts",
    "missing_facts",
    "model_catalog",
    "read_config_json",
    "weight_bytes_from_index",
]
