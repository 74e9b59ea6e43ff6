# The Drover agent image: the import manifests' Deployment runs `drover agent`
# (the same binary as the daemon). Build from the repository root:
#
#   docker build -t registry.example.com/drover:0.1.0 .
#
# and point the daemon at it with `[import] agent_image` (or per cluster with
# `drover cluster add --image`).

FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p drover

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/drover /usr/local/bin/drover
# No root inside the cluster: the agent needs no privileges of its own, only
# its service account's RBAC.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/drover", "agent"]
