// The venue's desk (/guichet) and its key page (/guichet/cle).
//
// - /guichet: « Valider » signs the redemption of the voucher found with the venue's key, kept in
//   this browser (IndexedDB), and posts it as JSON to /guichet/valider with the page's CSRF value
//   in the `x-csrf` header; the answer's French sentence is shown in the live region #resultat.
// - /guichet/cle: imports the key file written by `ygor keys generate`, checks that its public
//   key is the one registered for the venue, and keeps it in this browser; or forgets it. The file
//   is read here and never sent anywhere.

import { forgetKey, importKeyFile, loadKey, saveKey, signObject } from './ygor-crypto.js';

const NO_KEY = "Ce navigateur n'a pas la clé du lieu : il ne peut pas valider de bon.";
const UNEXPECTED =
  "Réponse inattendue du serveur. Rechargez la page de l'historique pour vérifier si le bon a été validé avant de recommencer.";

/** Replaces the content of `region` with one notice paragraph (no HTML is parsed). */
function say(region, kind, text, link) {
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

async function keyOf(venueId) {
  try {
    return await loadKey(venueId);
  } catch {
    return null;
  }
}

async function desk(root) {
  const venueId = root.dataset.venueId;
  const csrf = root.dataset.csrf;
  const noKey = document.getElementById('sans-cle');
  const result = document.getElementById('resultat');
  let key = await keyOf(venueId);
  if (!key && noKey) noKey.hidden = false;
  const action = document.getElementById('valider');
  if (!action) return;
  const button = action.querySelector('button');
  // Built once: a retry after a lost answer is the same signed redemption, answered as a retry.
  const redemption = { redemption_id: crypto.randomUUID(), venue_id: venueId, amount: Number(action.dataset.amount) };
  if (action.dataset.countermark) redemption.countermark = action.dataset.countermark;
  else redemption.voucher = action.dataset.voucher;
  if (action.dataset.offerId) redemption.offer_id = action.dataset.offerId;
  let done = false;
  button.addEventListener('click', async () => {
    if (done) return;
    key = key ?? (await keyOf(venueId));
    if (!key) {
      if (noKey) noKey.hidden = false;
      say(result, 'alert', NO_KEY, { href: '/guichet/cle', text: 'Importer le fichier de clé du lieu.' });
      return;
    }
    button.disabled = true;
    say(result, 'info', 'Validation en cours…');
    try {
      const signed = await signObject('redemption', redemption, key.privateKey);
      const response = await fetch('/guichet/valider', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf': csrf },
        body: JSON.stringify(signed),
      });
      const answer = await response.json().catch(() => null);
      if (answer?.ok) {
        done = true;
        say(result, 'ok', answer.message);
        action.hidden = true;
        document.getElementById('code')?.focus();
        return;
      }
      const message = typeof answer?.message === 'string' ? answer.message : UNEXPECTED;
      if (answer?.code === 'invalid_signature') {
        say(result, 'alert', message, { href: '/guichet/cle', text: 'Importer le fichier de clé du lieu.' });
      } else {
        say(result, 'alert', message);
      }
      // A voucher already used or expired will not become valid: the button stays off.
      button.disabled = ['voucher_used', 'voucher_expired'].includes(answer?.code);
    } catch (error) {
      say(result, 'alert', error instanceof Error && error.message ? error.message : UNEXPECTED);
      button.disabled = false;
    }
  });
}

async function keyPage(root) {
  const venueId = root.dataset.venueId;
  const registered = root.dataset.publicKey;
  const status = document.getElementById('cle-etat');
  const error = document.getElementById('cle-erreur');
  const file = document.getElementById('fichier');
  const importButton = document.getElementById('importer');
  const forgetButton = document.getElementById('oublier');

  const clearError = () => {
    error.hidden = true;
    error.textContent = '';
    file.removeAttribute('aria-invalid');
    file.removeAttribute('aria-describedby');
  };
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
    file.setAttribute('aria-invalid', 'true');
    file.setAttribute('aria-describedby', 'cle-erreur');
    file.focus();
  };
  const refresh = async () => {
    const key = await keyOf(venueId);
    if (!key) status.textContent = "Ce navigateur n'a pas encore la clé du lieu.";
    else if (key.publicKey !== registered) {
      status.textContent =
        "La clé gardée dans ce navigateur n'est pas celle enregistrée pour ce lieu : importez le bon fichier de clé.";
    } else status.textContent = 'Ce navigateur a la clé du lieu : il peut valider les bons.';
    forgetButton.disabled = !key;
  };

  importButton.addEventListener('click', async () => {
    clearError();
    const chosen = file.files?.[0];
    if (!chosen) {
      fail('Choisissez le fichier de clé du lieu.');
      return;
    }
    let key;
    try {
      key = await importKeyFile(await chosen.text());
    } catch (problem) {
      fail(problem instanceof Error ? problem.message : String(problem));
      return;
    }
    if (key.publicKey !== registered) {
      fail(
        "Ce fichier de clé n'est pas celui de ce lieu : sa clé publique n'est pas celle que la collectivité a enregistrée pour lui.",
      );
      return;
    }
    try {
      await saveKey(venueId, key);
    } catch {
      fail("Ce navigateur n'a pas pu garder la clé (navigation privée ?). Utilisez une fenêtre ordinaire.");
      return;
    }
    file.value = '';
    forgetButton.disabled = false;
    status.textContent = 'Clé importée : elle reste dans ce navigateur.';
  });

  forgetButton.addEventListener('click', async () => {
    clearError();
    await forgetKey(venueId);
    forgetButton.disabled = true;
    status.textContent = 'Clé oubliée : ce navigateur ne peut plus valider de bons pour ce lieu.';
  });

  await refresh();
}

const deskRoot = document.getElementById('guichet');
if (deskRoot) desk(deskRoot);
const keyRoot = document.getElementById('cle');
if (keyRoot) keyPage(keyRoot);

// The camera, where the browser can read QR codes itself (BarcodeDetector, on phones and tablets):
// the code read fills the field and the form is sent, as a handheld scanner would. Elsewhere the
// button stays hidden and the field takes what is typed or scanned.
async function camera() {
  const button = document.getElementById('camera');
  const video = document.getElementById('camera-video');
  const field = document.getElementById('code');
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
      button.textContent = 'Caméra indisponible : saisissez la contremarque';
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
          field.form.requestSubmit();
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

camera();
