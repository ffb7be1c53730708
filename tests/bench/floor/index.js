// The benchmark's floor: answers every request with the same small HTML page. Whatever a
// request costs here (the runtime, wrangler dev's proxy, HTTP) every Worker pays as well.

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Floor</title>
</head>
<body>
<main>
<h1>Floor</h1>
<p>A fixed page from the cheapest Worker there is, to compare the real Worker against.</p>
</main>
</body>
</html>
`;

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'",
};

export default {
  fetch() {
    return new Response(PAGE, { headers: HEADERS });
  },
};
