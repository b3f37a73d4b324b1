# strata as a container image: the glibc release binary on distroless "cc" (Debian 12's glibc
# 2.36 plus libgcc_s and libstdc++, which the embedded libSQL module needs; no shell), non-root.
# Why not Alpine + the musl binary: see README "Container image" (sizes of both).
#
# Build from the repository root after `npm run release` (only dist/strata-linux-* is sent,
# see .dockerignore):
#   docker build -t strata .
#   docker build -t strata:arm64 --platform linux/arm64 --build-arg STRATA_TARGET=linux-arm64 .
# Run (migrations mounted read-only at /migrations, the database in a volume at the user's
# working directory /home/nonroot, which it owns):
#   docker run --rm -v "$PWD/migrations:/migrations:ro" -v calendar-data:/home/nonroot strata up --url calendar_app.db
FROM gcr.io/distroless/cc-debian12:nonroot
ARG STRATA_TARGET=linux-x64
COPY dist/strata-${STRATA_TARGET} /usr/local/bin/strata
# The documented mount point; --dir or STRATA_DIR at run time still win.
ENV STRATA_DIR=/migrations
# distroless's "nonroot" user, numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["strata"]
CMD ["--help"]
