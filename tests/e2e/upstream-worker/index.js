// Answers every request with what it received (method, path, headers) as JSON, marked as the
// origin's answer (x-demo-origin), like tests/gateway/origin.mjs does for a real origin.
export default {
  fetch(request) {
    const url = new URL(request.url);
    const headers = Object.fromEntries(request.headers);
    return Response.json(
      { method: request.method, path: url.pathname, search: url.search, headers },
      { headers: { 'x-demo-origin': '1' } },
    );
  },
};
