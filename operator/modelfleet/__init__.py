"""ModelFleet: a Kubernetes operator that sizes, renders and rolls out self-hosted LLM inference fleets."""

__version__ = "0.1.0"

GROUP = "modelfleet.io"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
