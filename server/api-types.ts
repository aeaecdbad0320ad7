/**
 * The types of rpf.kube-rpf.dev/v1alpha1, defined once: each field's JSON
 * type and the documentation `kubectl explain` prints. The TypeScript types
 * of the objects rpf-server serves are derived from these definitions
 * (session-objects.ts builds `ReversePortForward` values, so a field it
 * serves that is not defined here does not compile), and the OpenAPI
 * documents are generated from them (openapi.ts).
 */
import { GROUP, SESSION_KIND, SESSION_LIST_KIND, VERSION } from './constants.ts';
import { MAX_ADDRESSES, MAX_PORTS } from './query.ts';

/** The meta/v1 types of apimachinery our types embed, by their short name. */
export type MetaTypeName = 'ObjectMeta' | 'ListMeta';

/** Our own types, by kind or Go-style type name. */
export type TypeName =
  | 'ReversePortForward'
  | 'ReversePortForwardList'
  | 'ReversePortForwardSpec'
  | 'ReversePortForwardStatus'
  | 'ReversePortForwardListener'
  | 'ReversePortForwardConnections';

/** What an array holds. */
export type ItemSchema =
  | { readonly type: 'string' }
  | { readonly type: 'integer'; readonly format: 'int32' | 'int64'; readonly minimum?: number; readonly maximum?: number }
  | { readonly ref: TypeName };

/** One field: its JSON type and its documentation (required: kubectl explain shows it). */
export type FieldSchema = { readonly description: string } & (
  | { readonly type: 'string' }
  | { readonly type: 'integer'; readonly format: 'int32' | 'int64'; readonly minimum?: number; readonly maximum?: number }
  | { readonly type: 'array'; readonly items: ItemSchema }
  | { readonly ref: TypeName }
  | { readonly meta: MetaTypeName }
);

/** One object type. */
export interface TypeSchema {
  readonly description: string;
  readonly properties: Readonly<Record<string, FieldSchema>>;
  /**
   * Fields every served object carries (kubectl explain marks them -required-,
   * generators make them non-optional). Like kube-apiserver's kinds, top-level
   * objects list none of apiVersion, kind, metadata, spec and status.
   */
  readonly required: readonly string[];
  /** The kind a top-level type is served as (x-kubernetes-group-version-kind). */
  readonly kind?: string;
}

// The texts apimachinery gives every object's apiVersion and kind, as kube-apiserver documents them.
const API_VERSION_FIELD = {
  type: 'string',
  description:
    'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
} as const;
const KIND_FIELD = {
  type: 'string',
  description:
    'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
} as const;

/** The types, in the order the documents list them. */
export const API_TYPES = {
  ReversePortForward: {
    kind: SESSION_KIND,
    description:
      'ReversePortForward is one active reverse port-forward session: listeners that rpf-agent holds open inside a pod\'s network namespace, each connection to them carried back to the client that opened the session (kubectl rpf). Sessions are opened through the pods/reverseportforward subresource and are not stored: the objects are read from the agents. Deleting one ends the session and closes its listeners.',
    properties: {
      apiVersion: API_VERSION_FIELD,
      kind: KIND_FIELD,
      metadata: {
        meta: 'ObjectMeta',
        description:
          'Standard object metadata. The name is the session id, unique in the cluster; the namespace is the pod\'s; creationTimestamp is when the session started. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
      },
      spec: { ref: 'ReversePortForwardSpec', description: 'What the session was opened for: the pod, the user, the ports and addresses.' },
      status: { ref: 'ReversePortForwardStatus', description: 'What the session holds now, as the rpf-agent of the pod\'s node reports it.' },
    },
    required: [],
  },
  ReversePortForwardList: {
    kind: SESSION_LIST_KIND,
    description: 'ReversePortForwardList is a list of the active reverse port-forward sessions.',
    properties: {
      apiVersion: API_VERSION_FIELD,
      kind: KIND_FIELD,
      metadata: {
        meta: 'ListMeta',
        description: 'Standard list metadata. Sessions are not stored, so the list has no resourceVersion and cannot be watched. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
      },
      items: { type: 'array', items: { ref: 'ReversePortForward' }, description: 'The sessions, sorted by namespace and name.' },
    },
    required: ['items'],
  },
  ReversePortForwardSpec: {
    description: 'ReversePortForwardSpec is fixed when the session opens and does not change while it lives.',
    properties: {
      pod: { type: 'string', description: 'Name of the pod, in the object\'s namespace, whose network namespace holds the listeners.' },
      podUID: { type: 'string', description: 'UID of that pod. A session belongs to one instance of the pod and ends when that instance is gone.' },
      node: { type: 'string', description: 'The node the pod runs on, whose rpf-agent holds the listeners.' },
      user: { type: 'string', description: 'The user who opened the session, as kube-apiserver authenticated them.' },
      ports: {
        type: 'array',
        items: { type: 'integer', format: 'int32', minimum: 0, maximum: 65535 },
        description:
          'The ports requested in the pod, each once, in the order first requested. 0 asked for any free port; status.listeners shows the port the pod\'s kernel chose.',
      },
      addresses: {
        type: 'array',
        items: { type: 'string' },
        description:
          'The addresses listened on inside the pod, each once: 127.0.0.1 and ::1 (reachable only from inside the pod) unless the request named others.',
      },
    },
    required: ['pod', 'podUID', 'node', 'user', 'ports', 'addresses'],
  },
  ReversePortForwardStatus: {
    description: 'ReversePortForwardStatus is read from the agent on every request: the counters move while connections are open.',
    properties: {
      listeners: {
        type: 'array',
        items: { ref: 'ReversePortForwardListener' },
        description: 'Every listener open in the pod: one per requested port and address.',
      },
      connections: { ref: 'ReversePortForwardConnections', description: 'Connections that processes in the pod made to the listeners.' },
      bytesToPod: {
        type: 'integer',
        format: 'int64',
        minimum: 0,
        description: 'Bytes sent from the client\'s side to processes in the pod, over all connections of the session.',
      },
      bytesFromPod: {
        type: 'integer',
        format: 'int64',
        minimum: 0,
        description: 'Bytes sent from processes in the pod to the client\'s side, over all connections of the session.',
      },
    },
    required: ['listeners', 'connections', 'bytesToPod', 'bytesFromPod'],
  },
  ReversePortForwardListener: {
    description: 'ReversePortForwardListener is one listening socket in the pod\'s network namespace.',
    properties: {
      address: { type: 'string', description: 'The address the listener is bound to inside the pod.' },
      port: {
        type: 'integer',
        format: 'int32',
        minimum: 0,
        maximum: 65535,
        description: 'The port the listener is bound to: the requested one, or the one the kernel chose when 0 was requested.',
      },
      requestedPort: {
        type: 'integer',
        format: 'int32',
        minimum: 0,
        maximum: 65535,
        description: 'The port as requested: the same as port, or 0 for any free port.',
      },
    },
    required: ['address', 'port', 'requestedPort'],
  },
  ReversePortForwardConnections: {
    description: 'ReversePortForwardConnections counts the connections made to a session\'s listeners.',
    properties: {
      open: { type: 'integer', format: 'int32', minimum: 0, description: 'Connections open now.' },
      total: { type: 'integer', format: 'int64', minimum: 0, description: 'Connections accepted since the session started, open or closed.' },
    },
    required: ['open', 'total'],
  },
} as const satisfies Record<TypeName, TypeSchema>;

/** The group, version and kind of a top-level type (x-kubernetes-group-version-kind). */
export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

/** The GVK of one of our kinds. */
export function gvk(kind: string): GroupVersionKind {
  return { group: GROUP, version: VERSION, kind };
}

/**
 * The metadata rpf-server fills in (a subset of meta/v1 ObjectMeta).
 * creationTimestamp is null when the agent did not say, as apimachinery writes a zero time.
 */
export interface ServedObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly creationTimestamp: string | null;
}

/** The list metadata rpf-server fills in (a subset of meta/v1 ListMeta). */
export interface ServedListMeta {
  readonly resourceVersion: string;
}

type Defined = typeof API_TYPES;
type PropertiesOf<N extends TypeName> = Defined[N]['properties'];
type RequiredOf<N extends TypeName> = Defined[N]['required'][number];

/** The value a field or array item holds. */
type ValueOf<F> = F extends { readonly type: 'string' }
  ? string
  : F extends { readonly type: 'integer' }
    ? number
    : F extends { readonly type: 'array'; readonly items: infer I }
      ? readonly ValueOf<I>[]
      : F extends { readonly ref: infer N extends TypeName }
        ? ObjectOf<N>
        : F extends { readonly meta: 'ObjectMeta' }
          ? ServedObjectMeta
          : F extends { readonly meta: 'ListMeta' }
            ? ServedListMeta
            : never;

/** The TypeScript type of an object of one of our types: required fields required, the others optional. */
export type ObjectOf<N extends TypeName> = {
  readonly [K in keyof PropertiesOf<N> & RequiredOf<N>]: ValueOf<PropertiesOf<N>[K]>;
} & {
  readonly [K in Exclude<keyof PropertiesOf<N>, RequiredOf<N>>]?: ValueOf<PropertiesOf<N>[K]>;
};

/** A session object as rpf-server serves it. */
export type ReversePortForward = ObjectOf<'ReversePortForward'>;
/** A list of session objects as rpf-server serves it. */
export type ReversePortForwardList = ObjectOf<'ReversePortForwardList'>;

/** A query parameter of the pods/reverseportforward subresource. */
export interface ConnectParameter {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  readonly items: ItemSchema;
  readonly maxItems: number;
}

/** The query of pods/reverseportforward, as server/query.ts parses it. */
export const CONNECT_PARAMETERS: readonly ConnectParameter[] = [
  {
    name: 'ports',
    required: true,
    items: { type: 'integer', format: 'int32', minimum: 0, maximum: 65535 },
    maxItems: MAX_PORTS,
    description: `A port to listen on inside the pod; repeat the parameter for several (at most ${MAX_PORTS}), no port twice. 0 asks for any free port, which the tunnel reports back. Ports must be within the server's allowed ranges.`,
  },
  {
    name: 'address',
    required: false,
    items: { type: 'string' },
    maxItems: MAX_ADDRESSES,
    description: `An address to listen on inside the pod: an IPv4 or IPv6 literal, or localhost (127.0.0.1 and ::1); repeat the parameter for several (at most ${MAX_ADDRESSES}). Default: 127.0.0.1 and ::1. An address other pods can reach also needs the verb expose on pods/reverseportforward.`,
  },
];
