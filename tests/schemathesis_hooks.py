"""Schemathesis hooks for Drover's test suite (loaded through SCHEMATHESIS_HOOKS).

The import manifests (`GET /import/{token}.yaml`) are a YAML stream: one
document per Kubernetes object, the way `kubectl apply -f` reads them.
Schemathesis reads YAML responses as a single document; this reads the whole
stream, as the list of documents the OpenAPI document describes.
"""

import schemathesis
import yaml


@schemathesis.deserializer(
    "application/yaml", "text/yaml", "text/x-yaml", "application/x-yaml", "text/vnd.yaml"
)
def yaml_stream(ctx, response):
    text = response.content.decode(response.encoding or "utf-8")
    return list(yaml.safe_load_all(text))
