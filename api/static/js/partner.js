// What the pages of partners (a venue's desk, an association's) share: their key, kept in this
// browser; a JSON post with the page's CSRF value; a French sentence in a live region.

import { loadKey } from './ygor-crypto.js';

/** Replaces the content of `region` with one notice paragraph (no HTML is parsed). */
export function say(region, kind, text, link) {
  const notice = document.createElement('div');
  notice.className = `notice notice--${kind}`;
  const paragraph = document.createElement('p');
  paragraph.textContent = text;
  if (link) {
    const anchor = document.createElement('a');
    anchor.href = link.href;
    anchor.textContent = link.text;
    paragraph.append(' ', anchor);
  }
  notice.append(paragraph);
  region.replaceChildren(notice);
}

/** The partner's key kept in this browser, or null. */
export async function keyOf(partnerId) {
  try {
    return await loadKey(partnerId);
  } catch {
    return null;
  }
}

/** Posts `body` as JSON to a page route with the page's CSRF value; the answer's JSON, or null. */
export async function postJson(path, csrf, body) {
  const response = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-csrf': csrf },
    body: JSON.stringify(body),
  });
  return response.json().catch(() => null);
}
