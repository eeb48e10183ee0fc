/**
 * The login page: one labelled password field; the script posts the token to `/api/login`, which
 * sets the session cookie, then goes to `next` (a local path only). Served with a CSP that allows
 * only this origin's script, so the page runs no inline code.
 */
export const LOGIN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Clawfleet: log in</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; color: #1b1f24; }
  label { display: block; font-weight: 600; margin-bottom: .4rem; }
  input { width: 100%; box-sizing: border-box; font: inherit; padding: .5rem; border: 1px solid #57606a; border-radius: 4px; }
  button { margin-top: 1rem; font: inherit; padding: .5rem 1.2rem; border-radius: 4px; border: 1px solid #1f6feb; background: #1f6feb; color: #fff; }
  button:focus-visible, input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
  #error { color: #b42318; min-height: 1.5rem; margin-top: 1rem; }
  p.hint { color: #57606a; font-size: .9rem; }
</style>
</head>
<body>
<main>
<h1>Clawfleet</h1>
<form id="login">
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus aria-describedby="hint error">
  <p class="hint" id="hint">The <code>cli</code> entry of the tokens file (<code>.data/tokens.json</code>).</p>
  <button type="submit">Log in</button>
  <div id="error" role="alert" aria-live="assertive"></div>
</form>
</main>
<script src="/login.js"></script>
</body>
</html>
`;

export const LOGIN_SCRIPT = `'use strict';
document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = document.getElementById('error');
  error.textContent = '';
  const token = document.getElementById('token').value.trim();
  try {
    const response = await fetch('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
      credentials: 'same-origin',
    });
    if (response.ok) {
      const next = new URLSearchParams(location.search).get('next');
      location.assign(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
      return;
    }
    const body = await response.json().catch(() => ({}));
    error.textContent = (body.error && body.error.message) || 'Login failed (' + response.status + ')';
  } catch (failure) {
    error.textContent = 'The orchestrator did not answer: ' + failure.message;
  }
});
`;
