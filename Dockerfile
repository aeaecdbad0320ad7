# kube-rpf's image for real clusters: rpf-server and rpf-agent, one image, two
# entry points (the chart sets the command). The local test cluster assembles
# the same layout without Docker (test/cluster/images/kube-rpf/rootfs.sh):
# node at /usr/local/bin/node, rpf-netns-listen at /usr/local/bin, nsenter at
# /usr/bin/nsenter, the app in /app.
FROM golang:1.24-bookworm AS netns-listen
WORKDIR /src
COPY node-agent/netns-listen ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o /rpf-netns-listen .

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY protocol protocol
COPY server server
COPY node-agent node-agent
COPY client client
RUN npx tsc -p tsconfig.build.json && npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
# nsenter (util-linux, part of every Debian base) is rpf-agent's fallback for
# entering pod network namespaces; rpf-netns-listen is copied in below.
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# rpf-agent's helper that opens listeners in pod network namespaces (static).
COPY --from=netns-listen /rpf-netns-listen /usr/local/bin/rpf-netns-listen
# rpf-server runs as this user; rpf-agent needs root with a few capabilities
# (see charts/kube-rpf/README.md) and the chart sets that.
USER 65532:65532
CMD ["/usr/local/bin/node", "/app/dist/server/main.js"]
