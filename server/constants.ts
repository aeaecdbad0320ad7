/** Names fixed by the API: group, version, resources, paths and headers. */

/** The API group rpf-server serves. */
export const GROUP = 'rpf.kube-rpf.dev';
/** The one version of {@link GROUP}. */
export const VERSION = 'v1alpha1';
/** `group/version`, as in apiVersion fields. */
export const GROUP_VERSION = `${GROUP}/${VERSION}`;
/** Path prefix of everything in the group version. */
export const API_PREFIX = `/apis/${GROUP}/${VERSION}`;

/** The pod subresource that opens a tunnel. */
export const SUBRESOURCE = 'reverseportforward';
/** The resource listing active sessions. */
export const SESSIONS_RESOURCE = 'reverseportforwards';
/** Kind of one session object. */
export const SESSION_KIND = 'ReversePortForward';
/** Kind of the list of session objects. */
export const SESSION_LIST_KIND = 'ReversePortForwardList';
/** Kind advertised in discovery for `pods/reverseportforward`, and of the connect options admission webhooks receive (admission-review.ts), as PodPortForwardOptions is for pods/portforward. */
export const SUBRESOURCE_KIND = 'ReversePortForwardOptions';

/** Response header naming the RPF_ERR_SERVER_* code of an error Status. */
export const ERROR_CODE_HEADER = 'x-rpf-error-code';

