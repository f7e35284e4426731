"""Reading a model's own small files from the Hugging Face Hub (or a mirror), never its weights.

Shell code shared by the operator (:mod:`modelfleet.reconcile.discovery` caches it) and ``modelfleet
plan``: the one module outside reconcile/ and cli/ that talks to the network.

What is read, in order, each with the real ``huggingface_hub`` client (the engines' own client, so a
mirror set with ``HF_ENDPOINT`` and a token work the same way for the operator and the pods):

1. the model info of the revision (``HfApi.model_info``): the commit it resolves to and the file list
   with sizes, so nothing is fetched that is not there, and a file larger than its cap is refused
   before a byte of it is read;
2. ``config.json`` (required; capped at 4 MiB, JSON nesting at 64 levels);
3. ``model.safetensors.index.json`` when listed (capped at 64 MiB): ``metadata.total_size`` is the
   checkpoint's weight bytes; a single-file checkpoint's header instead, through a Range request
   (``HfApi.parse_safetensors_file_metadata``): its parameter count;
4. ``hf_quant_config.json`` when listed (NVIDIA ModelOpt checkpoints keep their quantization there,
   not in config.json), read the way vLLM reads it.

``generation_config.json`` holds sampling defaults and no fact the planner sizes with, so it is not
read. Every request has a timeout, and a file's body a deadline, so a slow server becomes an error
with the URL rather than a hung reconcile. Failures are :class:`HubError` with the condition reason,
the HTTP status when there was one, and the URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    SafetensorsParsingError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from modelfleet.api import ModelDeploymentSpec, ModelFilesStatus, Reason
from modelfleet.api.to_request import files_facts
from modelfleet.catalog import CatalogError, facts_from_config, license_catalog
from modelfleet.catalog.values import MAX_BYTES

DEFAULT_ENDPOINT = "https://huggingface.co"
CONFIG = "config.json"
INDEX = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
MODELOPT_QUANT = "hf_quant_config.json"
# config.json files are a few KiB and index files a few MiB (DeepSeek-V3's: 1.7 MiB); far larger is hostile.
MAX_CONFIG_BYTES = 4 * 1024**2
MAX_INDEX_BYTES = 64 * 1024**2
MAX_JSON_DEPTH = 64  # real configs nest 3-4 levels (quantization_config.config_groups.group_0.weights)
Target = tuple[str, str | None]  # (repository id, revision)


def hub_target(spec: ModelDeploymentSpec) -> Target | str:
    """The Hub repository and revision to read, or why the source is not read.

    >>> from modelfleet.api import parse_spec
    >>> hub_target(parse_spec({"model": {"id": "acme/m", "revision": "v1"}}))
    ('acme/m', 'v1')
    >>> hub_target(parse_spec({"model": {"id": "acme/m", "source": {"uri": "hf://acme/other"}}}))
    ('acme/other', None)
    >>> hub_target(parse_spec({"model": {"id": "acme/m", "source": {"pvc": {"claimName": "models"}}}}))[:37]
    'spec.model.source.pvc is not read: th'
    """
    model, source = spec.model, spec.model.source
    if source is None or source.huggingface is not None:
        return model.id, model.revision
    if source.uri is not None and source.uri.startswith("hf://"):
        repo = "/".join(source.uri.removeprefix("hf://").strip("/").split("/")[:2])
        return repo, model.revision
    if source.pvc is not None:
        return (
            "spec.model.source.pvc is not read: the operator mounts no volume; facts come from the "
            "catalog and spec.model.overrides"
        )
    return (
        f"spec.model.source.uri {source.uri} is not read: the operator holds no object-store "
        "credentials; facts come from the catalog and spec.model.overrides"
    )


@dataclass(eq=False)  # not frozen: raising sets __traceback__ on the instance
class HubError(Exception):
    """Reading the files failed: the condition reason, what happened, and where."""

    reason: Reason
    message: str
    http_status: int | None = None
    url: str | None = None

    def __str__(self) -> str:
        status = f"HTTP {self.http_status} " if self.http_status else ""
        where = f" ({status}{self.url})" if self.url else (f" ({status.strip()})" if status else "")
        return f"{self.message}{where}"


@dataclass(frozen=True)
class HubReader:
    """Reads one repository's small files; ``token`` None uses the client's own (HF_TOKEN, a login),
    False sends none."""

    endpoint: str = DEFAULT_ENDPOINT
    timeout_seconds: float = 10.0
    token: str | bool | None = False

    def read(self, repo_id: str, revision: str | None) -> ModelFilesStatus:
        """The facts the repository's files state, with the commit they came from."""
        api = HfApi(endpoint=self.endpoint, token=self.token)
        info_url = f"{self.endpoint}/api/models/{repo_id}" + (f"/revision/{revision}" if revision else "")
        info = self._call(
            info_url,
            lambda: api.model_info(
                repo_id, revision=revision, files_metadata=True, timeout=self.timeout_seconds
            ),
        )
        commit = info.sha or revision or "main"
        sizes = {s.rfilename: s.size for s in info.siblings or ()}
        config_url = hf_hub_url(repo_id, CONFIG, revision=commit, endpoint=self.endpoint)
        if CONFIG not in sizes:
            raise HubError(
                Reason.NOT_FOUND,
                f"{repo_id} has no config.json at {commit[:12]}; is it a model repository? set "
                "spec.model.overrides to plan it without one",
                404,
                config_url,
            )
        config = self._json(repo_id, CONFIG, commit, sizes, MAX_CONFIG_BYTES)
        files = [CONFIG]
        if not isinstance(config, Mapping):
            raise HubError(Reason.INVALID_MODEL_FILES, "config.json is not a JSON object", url=config_url)
        if MODELOPT_QUANT in sizes and "quantization_config" not in config:
            config = {**config, "quantization_config": self._modelopt(repo_id, commit, sizes)}
            files.append(MODELOPT_QUANT)
        try:
            facts = facts_from_config(config, repo_id, where=config_url)
            overrides = files_facts(facts)
        except (CatalogError, ValueError) as error:  # ValueError: pydantic's, a fact out of the API's bounds
            raise HubError(Reason.INVALID_MODEL_FILES, str(error)[:500], url=config_url) from None
        weights = self._weights(repo_id, commit, sizes, files)
        overrides = overrides.model_copy(update={**weights, **_licence(info.card_data)})
        return ModelFilesStatus(
            id=repo_id,
            revision=revision,
            commit=commit,
            url=config_url,
            files=files,
            architecture=facts.architecture,
            native_dtype=facts.native_dtype,
            vision=facts.vision,
            facts=overrides,
        )

    # ---- the files ---------------------------------------------------------------------------------------
    def _weights(
        self, repo_id: str, commit: str, sizes: Mapping[str, int | None], files: list[str]
    ) -> dict[str, int]:
        """Weight bytes from the index (or the file sizes), parameters from a single file's header."""
        found: dict[str, int] = {}
        # Top-level model*.safetensors only: Mistral repos also ship consolidated.safetensors, gpt-oss a
        # second copy under original/; counting those would double the weights.
        shards = [
            size for name, size in sizes.items() if name.startswith("model") and name.endswith(".safetensors")
        ]
        if INDEX in sizes:
            index = self._json(repo_id, INDEX, commit, sizes, MAX_INDEX_BYTES)
            files.append(INDEX)
            # A malformed total is left out (the listed file sizes stand in), not a failed read.
            metadata = index.get("metadata") if isinstance(index, Mapping) else None
            total = metadata.get("total_size") if isinstance(metadata, Mapping) else None
            if isinstance(total, int) and not isinstance(total, bool) and 0 < total <= MAX_BYTES:
                found["weight_bytes"] = total
        elif SINGLE_FILE in sizes:
            url = hf_hub_url(repo_id, SINGLE_FILE, revision=commit, endpoint=self.endpoint)
            api = HfApi(endpoint=self.endpoint, token=self.token)
            header = self._call(
                url,
                lambda: api.parse_safetensors_file_metadata(
                    repo_id, SINGLE_FILE, revision=commit, timeout=self.timeout_seconds
                ),
            )
            files.append(f"{SINGLE_FILE} (header)")
            params = sum(header.parameter_count.values())
            if params > 0:
                found["total_params"] = params
        if "weight_bytes" not in found and shards and all(size for size in shards):
            found["weight_bytes"] = sum(size or 0 for size in shards)
        return found

    def _modelopt(self, repo_id: str, commit: str, sizes: Mapping[str, int | None]) -> dict[str, Any]:
        # vLLM's ModelOpt loader reads {"quantization": {"quant_algo": "FP8"}} from this file.
        raw = self._json(repo_id, MODELOPT_QUANT, commit, sizes, MAX_CONFIG_BYTES)
        quantization = raw.get("quantization") if isinstance(raw, Mapping) else None
        algo = quantization.get("quant_algo") if isinstance(quantization, Mapping) else None
        return {"quant_method": "modelopt", "quant_algo": algo if isinstance(algo, str) else ""}

    def _json(
        self, repo_id: str, filename: str, commit: str, sizes: Mapping[str, int | None], cap: int
    ) -> Any:
        url = hf_hub_url(repo_id, filename, revision=commit, endpoint=self.endpoint)
        listed = sizes.get(filename)
        if listed is not None and listed > cap:
            raise HubError(
                Reason.INVALID_MODEL_FILES,
                f"{filename} is {listed} bytes, more than the {cap} a metadata file may be; not read",
                url=url,
            )
        raw = self._call(url, lambda: self._get_bounded(url, cap))
        return parse_json(raw, f"{repo_id}/{filename}", url)

    def _get_bounded(self, url: str, cap: int) -> bytes:
        """The body of ``url``, refusing more than ``cap`` bytes or a transfer slower than the timeout."""
        deadline = time.monotonic() + self.timeout_seconds
        headers = build_hf_headers(token=self.token)
        with get_session().stream(
            "GET", url, headers=headers, timeout=self.timeout_seconds, follow_redirects=True
        ) as response:
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise HubError(
                        Reason.INVALID_MODEL_FILES,
                        f"the file is larger than the {cap} bytes a metadata file may be; not read",
                        url=url,
                    )
                if time.monotonic() > deadline:
                    raise HubError(
                        Reason.HUB_UNREACHABLE,
                        f"the server sent the file too slowly (more than {self.timeout_seconds:g}s)",
                        url=url,
                    )
            return bytes(body)

    def _call(self, url: str, fetch: Any) -> Any:
        """``fetch()``, with the client's errors turned into :class:`HubError` naming ``url``."""
        try:
            return fetch()
        except HubError:
            raise
        except GatedRepoError as error:
            raise HubError(
                Reason.GATED_REPO,
                "the repository is gated: "
                + (
                    "give a token in spec.model.source.huggingface.tokenSecretRef"
                    if _status(error) == 401
                    else "the token has no access; accept the model's terms on the Hub with that account"
                ),
                _status(error),
                url,
            ) from None
        except RepositoryNotFoundError as error:
            raise HubError(
                Reason.NOT_FOUND,
                "no such repository (or it is private and the token cannot see it)",
                _status(error),
                url,
            ) from None
        except RevisionNotFoundError as error:
            raise HubError(Reason.NOT_FOUND, "no such revision", _status(error), url) from None
        except EntryNotFoundError as error:
            raise HubError(Reason.NOT_FOUND, "no such file", _status(error), url) from None
        except SafetensorsParsingError as error:
            raise HubError(Reason.INVALID_MODEL_FILES, f"bad safetensors header: {error}", url=url) from None
        except HfHubHTTPError as error:
            status = _status(error)
            reason = (
                Reason.HUB_UNREACHABLE
                if status is None or status >= 500 or status == 429
                else Reason.NOT_FOUND
            )
            raise HubError(reason, f"the Hub answered {type(error).__name__}", status, url) from None
        except OfflineModeIsEnabled:
            raise HubError(
                Reason.HUB_UNREACHABLE,
                "HF_HUB_OFFLINE is set in the environment: the Hub is not read",
                url=url,
            ) from None
        except HTTPError as error:  # the transport: refused, reset, timed out
            raise HubError(
                Reason.HUB_UNREACHABLE,
                f"cannot reach the Hub ({type(error).__name__}: {error})"[:300],
                url=url,
            ) from None


def parse_json(raw: bytes, where: str, url: str | None = None) -> Any:
    """Parsed JSON of a metadata file, or :class:`HubError` (InvalidModelFiles) saying what is wrong."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise HubError(
            Reason.INVALID_MODEL_FILES, f"{where} is not UTF-8 ({error.reason})", url=url
        ) from None
    except json.JSONDecodeError as error:
        raise HubError(
            Reason.INVALID_MODEL_FILES,
            f"{where} is not valid JSON ({error.msg} at line {error.lineno})",
            url=url,
        ) from None
    except (RecursionError, ValueError) as error:  # absurd nesting, or an integer of thousands of digits
        raise HubError(
            Reason.INVALID_MODEL_FILES, f"{where} is not a usable JSON file ({type(error).__name__})", url=url
        ) from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise HubError(
            Reason.INVALID_MODEL_FILES,
            f"{where} nests deeper than {MAX_JSON_DEPTH} levels; not a config",
            url=url,
        )
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _licence(card: Any) -> dict[str, str]:
    """The model card's licence, when it is one the catalog knows (so the licence policy can judge it)."""
    licence = card.get("license") if card is not None else None
    return {"license": licence} if isinstance(licence, str) and licence in license_catalog() else {}
