// The stand-alone login page (`GET /login`): posts the token, then opens the dashboard, which the
// session cookie now lets in.

import { ApiError, request } from './api.js';
import { byId, setText } from './dom.js';

const form = byId('login-form', HTMLFormElement);
const input = byId('login-token', HTMLInputElement);
const error = byId('login-error', HTMLElement);

/** @param {string} message */
function fail(message) {
  setText(error, message);
  error.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  input.focus();
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = input.value.trim();
  if (token === '') {
    fail('Paste the admin token first.');
    return;
  }
  request('POST', '/api/login', { token }).then(
    () => window.location.assign('/'),
    (/** @type {unknown} */ failure) =>
      fail(
        failure instanceof ApiError && failure.unauthorized
          ? `That is not this orchestrator's admin token (${failure.message}).`
          : `Could not log in: ${failure instanceof ApiError ? failure.describe() : String(failure)}`,
      ),
  );
});
