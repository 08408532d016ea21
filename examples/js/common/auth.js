// Shared by the users beside it: a relative import, bundled into the component.

/** Log in with a form post; the session's cookies carry the login from then on. */
export function login(client, username, password) {
  return client.post('/login', { data: { username, password } });
}
