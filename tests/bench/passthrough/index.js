// The gateway benchmark's floor: forwards every request to UPSTREAM_URL as it is, and returns
// the answer as it is. Whatever forwarding costs here (the runtime, wrangler dev's proxy, the
// subrequest) the gateway pays as well; everything above it is the gateway's own work.

export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(`${env.UPSTREAM_URL}${url.pathname}${url.search}`, request);
  },
};
