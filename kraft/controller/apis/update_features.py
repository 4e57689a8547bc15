"""UpdateFeatures (57), versions 0-2: change finalized feature levels;
kraft.controller.features.update_features. Served on the controller listener
(`kafka-features --bootstrap-controller upgrade`) and forwarded by brokers, as
Kafka's are; the broker answers once its own image holds the new levels (so its
ApiVersions shows them at once). Needs ALTER on the cluster
(kraft.controller.authorization).

Error shape: the top-level error and message, no per-feature results.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import features
from kraft.controller.apis import ControllerApi, Forwarded
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.registry import ApiSpec


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    if response.error_code != ErrorCode.none or getattr(request, "validate_only", False):
        return None
    wanted = {u.feature: int(u.max_version_level) for u in request.feature_updates
              if u.feature != features.KRAFT_VERSION}  # raft's, not in the image
    if not wanted:
        return None
    return lambda image: all(image.features.levels.get(name, 0) == level
                             for name, level in wanted.items())


API = ControllerApi(
    ApiSpec(ApiKey.UPDATE_FEATURES, 0, 2),
    command=features.update_features,
    error_response=features.error_response,
    forwarded=Forwarded(visible=_visible),
)
