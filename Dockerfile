# kube-rpf's image for real clusters: rpf-server and rpf-agent, one image, two
# entry points (the chart sets the command). The local test cluster assembles
# the same layout without Docker (test/cluster/images/kube-rpf/rootfs.sh):
# node at /usr/local/bin/node, nsenter at /usr/bin/nsenter, the app in /app.
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
# nsenter (util-linux, part of every Debian base) lets rpf-agent enter pod
# network namespaces; nothing else is added.
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# rpf-server runs as this user; rpf-agent needs root with a few capabilities
# (see charts/kube-rpf/README.md) and the chart sets that.
USER 65532:65532
CMD ["/usr/local/bin/node", "/app/dist/server/main.js"]
