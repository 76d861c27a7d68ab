// The key page of a partner (/guichet/cle for a venue, /association/cle for an association):
// imports the key file written by `ygor keys generate`, checks that its public key is the one
// registered for the partner, and keeps it in this browser (IndexedDB); or forgets it. The file is
// read here and never sent anywhere.

import { forgetKey, importKeyFile, saveKey } from './ygor-crypto.js';
import { keyOf } from './partner.js';

async function keyPage(root) {
  const partnerId = root.dataset.partnerId;
  const registered = root.dataset.publicKey;
  const of = root.dataset.of; // « du lieu »
  const to = root.dataset.to; // « valider les bons »
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
    const key = await keyOf(partnerId);
    if (!key) status.textContent = `Ce navigateur n'a pas encore la clé ${of}.`;
    else if (key.publicKey !== registered) {
      status.textContent = `La clé gardée dans ce navigateur n'est pas celle enregistrée ${of} : importez le bon fichier de clé.`;
    } else status.textContent = `Ce navigateur a la clé ${of} : il peut ${to}.`;
    forgetButton.disabled = !key;
  };

  importButton.addEventListener('click', async () => {
    clearError();
    const chosen = file.files?.[0];
    if (!chosen) {
      fail(`Choisissez le fichier de clé ${of}.`);
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
        `Ce fichier de clé n'est pas celui ${of} : sa clé publique n'est pas celle que la collectivité a enregistrée.`,
      );
      return;
    }
    try {
      await saveKey(partnerId, key);
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
    await forgetKey(partnerId);
    forgetButton.disabled = true;
    status.textContent = `Clé oubliée : ce navigateur ne peut plus ${to}.`;
  });

  await refresh();
}

const root = document.getElementById('cle');
if (root) keyPage(root);
