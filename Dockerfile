# Dockerfile - trawl built from source on Debian 12, in a small runtime image.
#
#   docker build -t trawl:latest .
#   docker run --rm trawl:latest version
#   docker run --rm -v trawl-data:/data trawl:latest \
#       index /data/idx /usr/share/trawl/wiki-demo/docs.jsonl
#   docker run --rm -p 9200:9200 -v trawl-data:/data trawl:latest \
#       serve /data/idx --http 0.0.0.0:9200
#
# The image runs `trawl` (ENTRYPOINT) as an unprivileged user; every command
# of the tool is available (index, serve, leaf, root, ...). deploy/k8s/ uses
# it as trawl:latest. docs/OPERATIONS.md describes the layout.

# ---- build stage: compilers and -dev packages (the list of scripts/deps.sh,
# without what only the tests need: cmocka, openssl, haproxy) ----
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev meson ninja-build pkg-config python3 \
      libnng-dev liblmdb-dev libzstd-dev zlib1g-dev libxxhash-dev libutf8proc-dev \
      libstemmer-dev libjansson-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the sources meson.build reads (not build directories, node_modules or
# data). When meson.build gains a subdir(), copy it here too.
COPY meson.build meson_options.txt ./
COPY include/ include/
COPY common/ common/
COPY index/ index/
COPY shard/ shard/
COPY leaf/ leaf/
COPY ui/ ui/
COPY root/ root/
COPY cli/ cli/
COPY bench/game/ bench/game/
COPY examples/ examples/
RUN meson setup /build --prefix=/usr/local --buildtype=release -Dtests=false \
 && ninja -C /build \
 && meson install -C /build --no-rebuild --destdir /staging

# ---- runtime stage: the shared libraries trawl links, nothing else ----
FROM debian:12
# libxxhash0: trawl may inline xxHash, but the package is tiny and keeps the
# image right if it links it. libnng1 brings mbedTLS, for tls+tcp://. zlib1g
# (gzip input) is part of every Debian base image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnng1 liblmdb0 libzstd1 libxxhash0 libutf8proc2 libstemmer0d libjansson4 \
      libmicrohttpd12 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /staging/usr/local/ /usr/local/
# libtrawl.so.0 is in /usr/local/lib/x86_64-linux-gnu (or the arch's dir).
RUN ldconfig \
 && groupadd --system --gid 10001 trawl \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home trawl \
 && mkdir -p /data && chown 10001:10001 /data \
 && trawl version
# The demo corpus, to try the image and the Kubernetes build job without
# data of your own.
COPY data/wiki-demo/ /usr/share/trawl/wiki-demo/
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 9200: the HTTP API (trawl serve, trawl root); 7100: a leaf's nng port;
# 9100: a leaf's health and metrics port (deploy/k8s/leaves.yaml).
EXPOSE 9200 7100 9100
ENTRYPOINT ["trawl"]
CMD ["--help"]
