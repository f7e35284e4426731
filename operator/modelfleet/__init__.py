"""ModelFleet: a Kubernetes operator that sizes, renders and rolls out self-hosted LLM inference fleets."""

__version__ = "0.1.0"

GROUP = "modelfleet.io"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
# A ModelDeployment's name is the modelfleet.io/name label of every child and pod (label values are at
# most 63 characters) and the name of its Service (a 63-character DNS label): the CRD caps it there.
NAME_MAX_LENGTH = 63
