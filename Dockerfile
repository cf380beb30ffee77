# syntax=docker/dockerfile:1.7
#
# tenantry production image.
#
#   docker build -t tenantry:latest .
#   docker run --rm tenantry:latest migrate   # with DATABASE_URL etc. in the environment
#   docker run -d -p 8000:8000 --env-file prod.env tenantry:latest
#
# Three stages:
#   deps    - compiles every dependency against a dummy crate, so this layer is
#             reused until Cargo.toml / Cargo.lock change;
#   build   - compiles the real sources (migrations and email templates are
#             embedded into the binary by `sqlx::migrate!` / `include_str!`);
#   runtime - debian bookworm-slim, non-root, the binary plus the migrations and
#             templates for reference, curl for the HEALTHCHECK. No secrets.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS deps
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY Cargo.toml Cargo.lock ./
# A dummy library and binary with the real manifest: `cargo build` then compiles
# (and caches in this layer) every dependency, but none of our code.
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --bin tenantry \
 && rm -rf src target/release/tenantry target/release/deps/tenantry-* \
           target/release/deps/libtenantry-* target/release/.fingerprint/tenantry-*

# ---------------------------------------------------------------------------
FROM deps AS build
COPY build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
RUN cargo build --release --locked --bin tenantry \
 && cp target/release/tenantry /usr/local/bin/tenantry \
 && /usr/local/bin/tenantry --version

# ---------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to SES, S3, identity providers and a TLS PostgreSQL.
# curl: the HEALTHCHECK below (the slim image has neither curl nor wget).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tenantry \
 && useradd --system --uid 10001 --gid tenantry --home-dir /var/lib/tenantry \
            --shell /usr/sbin/nologin tenantry \
 && mkdir -p /var/lib/tenantry/storage \
 && chown -R tenantry:tenantry /var/lib/tenantry

COPY --from=build /usr/local/bin/tenantry /usr/local/bin/tenantry
# Embedded in the binary already; shipped so operators can read what will run.
COPY --from=build /src/migrations /usr/share/tenantry/migrations
COPY --from=build /src/templates /usr/share/tenantry/templates

# Defaults only; everything secret comes from the environment at run time.
#
# MALLOC_MMAP_THRESHOLD_ (a glibc tunable, not a tenantry setting): the server's
# own heap is mimalloc (src/main.rs) and reuses its Argon2id buffers, so this now
# only keeps glibc's arenas small for what C libraries allocate. It was the fix
# when the server used glibc's malloc: RSS under a login flood 508 MB without it,
# 67 MB with it.
ENV ENVIRONMENT=production \
    BIND_ADDR=0.0.0.0:8000 \
    LOG_FORMAT=json \
    STORAGE_PATH=/var/lib/tenantry/storage \
    TENANTRY_DATA_DIR=/var/lib/tenantry \
    MALLOC_MMAP_THRESHOLD_=131072

WORKDIR /var/lib/tenantry
USER 10001:10001
EXPOSE 8000
VOLUME ["/var/lib/tenantry"]

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "--max-time", "2", "http://127.0.0.1:8000/health"]

# tenantry is PID 1 and handles SIGTERM itself: it stops accepting, drains
# in-flight requests, stops its background workers and exits 0. It spawns no
# children, so no init process is needed. Other commands: `migrate`, `seed`,
# `create-super-admin --email ...` (e.g. `docker run IMAGE migrate`).
ENTRYPOINT ["tenantry"]
CMD ["serve"]
