// The venue's desk (/guichet): « Valider » signs the redemption of the voucher found with the
// venue's key, kept in this browser (IndexedDB; imported on /guichet/cle by cle.js), and posts it
// as JSON to /guichet/valider with the page's CSRF value in the `x-csrf` header; the answer's
// French sentence is shown in the live region #resultat.

import { signObject } from './ygor-crypto.js';
import { camera, keyOf, postJson, say } from './partner.js';

const NO_KEY = "Ce navigateur n'a pas la clé du lieu : il ne peut pas valider de bon.";
const UNEXPECTED =
  "Réponse inattendue du serveur. Rechargez la page de l'historique pour vérifier si le bon a été validé avant de recommencer.";

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
      const answer = await postJson('/guichet/valider', csrf, signed);
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

const deskRoot = document.getElementById('guichet');
if (deskRoot) desk(deskRoot);

camera(
  document.getElementById('camera'),
  document.getElementById('camera-video'),
  document.getElementById('code'),
  'Caméra indisponible : saisissez la contremarque',
  (field) => field.form.requestSubmit(),
);
