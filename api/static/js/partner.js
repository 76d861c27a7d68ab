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

// The camera, where the browser can read QR codes itself (BarcodeDetector, on phones and tablets):
// `button` shows the camera in `video`, and the first QR code read fills `field`, then `read(field)`
// runs, as a handheld scanner would type and send it. Elsewhere the button stays hidden and the
// field takes what is typed or scanned; `unavailable` is said on the button if the camera is refused.
export async function camera(button, video, field, unavailable, read) {
  if (!button || !video || !field || !('BarcodeDetector' in window) || !navigator.mediaDevices) return;
  let formats = [];
  try {
    formats = await window.BarcodeDetector.getSupportedFormats();
  } catch {
    return;
  }
  if (!formats.includes('qr_code')) return;
  const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
  button.hidden = false;
  button.addEventListener('click', async () => {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    } catch {
      button.textContent = unavailable;
      button.disabled = true;
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const stop = () => {
      stream.getTracks().forEach((track) => track.stop());
      video.hidden = true;
    };
    const look = async () => {
      if (video.hidden) return;
      try {
        const [code] = await detector.detect(video);
        if (code && code.rawValue) {
          stop();
          field.value = code.rawValue;
          read(field);
          return;
        }
      } catch {
        // A frame that cannot be read: try the next one.
      }
      requestAnimationFrame(look);
    };
    look();
  });
}
