// The association's page (/association): certify one action, or the same action for a batch of
// citizens after an event. The citizens' codes are read by /association/citoyens; each
// certification is signed here with the association's key, kept in this browser (IndexedDB;
// imported on /association/cle by cle.js), and posted as JSON to /association/certifier (one) or
// /association/lot (a batch) with the page's CSRF value in the `x-csrf` header. The answers'
// French sentences are shown in the live regions #resultat and #lot-resultat.

import { signObject } from './ygor-crypto.js';
import { camera, keyOf, postJson, say } from './partner.js';

const NO_KEY = "Ce navigateur n'a pas la clé de l'association : il ne peut pas certifier d'action.";
const KEY_LINK = { href: '/association/cle', text: "Importer le fichier de clé de l'association." };
const UNEXPECTED =
  'Réponse inattendue du serveur. Rechargez la page des certifications pour vérifier ce qui a été certifié avant de recommencer.';
const CODES_MAX = 1000;

/** Shows the envelope's figures an answer carries, so that they stay true without a reload. */
function showFigures(figures) {
  if (!figures || typeof figures !== 'object') return;
  for (const element of document.querySelectorAll('[data-figure]')) {
    const value = figures[element.dataset.figure];
    if (typeof value === 'string') element.textContent = value;
  }
}

/** What a scan of the card's login QR code gives: a link, never a citizen's code. */
const LOGIN_LINK = /^\s*https?:\/\//i;
const NOT_THE_CODE =
  "Ce QR code sert au citoyen à se connecter : il n'est pas envoyé. Scannez le petit QR code « Code citoyen » de sa carte, ou saisissez le code.";

/** Marks `field` invalid with `message` shown in `error`, or clears it when `message` is empty. */
function mark(field, error, message) {
  if (message) {
    error.textContent = message;
    error.hidden = false;
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', error.id);
  } else {
    error.textContent = '';
    error.hidden = true;
    field.removeAttribute('aria-invalid');
    field.removeAttribute('aria-describedby');
  }
}

/** The quantity typed, or null: a whole number from 0 to 1,000,000. */
function quantityOf(text) {
  const trimmed = text.trim();
  if (!/^\d{1,7}$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return value <= 1000000 ? value : null;
}

/** The instant of an action on `day` (YYYY-MM-DD): now if it is today, else noon that day; RFC 3339 UTC. */
function occurredAt(day) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null;
  const now = new Date();
  const [year, month, date] = day.split('-').map(Number);
  const noon = new Date(year, month - 1, date, 12, 0, 0);
  if (Number.isNaN(noon.getTime())) return null;
  const sameDay =
    noon.getFullYear() === now.getFullYear() && noon.getMonth() === now.getMonth() && noon.getDate() === now.getDate();
  if (!sameDay && noon > now) return 'future';
  return (sameDay ? now : noon).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Checks the quantity and the date fields of a form; the values, or null when one is refused. */
function checked(quantityField, quantityError, dateField, dateError) {
  const quantity = quantityOf(quantityField.value);
  mark(quantityField, quantityError, quantity === null ? 'Indiquez un nombre entier, de 0 à 1 000 000.' : '');
  const at = occurredAt(dateField.value);
  let dateMessage = '';
  if (at === null) dateMessage = "Indiquez le jour de l'action.";
  else if (at === 'future') dateMessage = "La date de l'action ne peut pas être dans le futur.";
  mark(dateField, dateError, dateMessage);
  if (quantity === null) {
    quantityField.focus();
    return null;
  }
  if (dateMessage) {
    dateField.focus();
    return null;
  }
  return { quantity, occurredAt: at };
}

/** Today in this browser's time zone, as a date field writes it (YYYY-MM-DD). */
function localToday() {
  const now = new Date();
  const pad = (value) => String(value).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

async function page(root) {
  const associationId = root.dataset.associationId;
  const csrf = root.dataset.csrf;
  // The server's « today » is Paris's; a browser elsewhere may not have reached it yet.
  const today = localToday();
  for (const field of [document.getElementById('occurred'), document.getElementById('lot-occurred')]) {
    if (field.value > today) field.value = today;
    if (field.max > today) field.max = today;
  }
  const noKey = document.getElementById('sans-cle');
  let key = await keyOf(associationId);
  if (!key) noKey.hidden = false;

  const needKey = async (region) => {
    key = key ?? (await keyOf(associationId));
    if (!key) {
      noKey.hidden = false;
      say(region, 'alert', NO_KEY, KEY_LINK);
    }
    return key;
  };

  const certification = (citizenId, category, values) => ({
    action_id: crypto.randomUUID(),
    association_id: associationId,
    citizen_id: citizenId,
    category,
    quantity: values.quantity,
    occurred_at: values.occurredAt,
  });

  // One action.
  const form = document.getElementById('certifier');
  const result = document.getElementById('resultat');
  const code = document.getElementById('code');
  const codeError = document.getElementById('code-erreur');
  // The certification last sent and not yet answered: sent again as is (an identical retry) when
  // nothing changed, so that a lost answer never certifies twice.
  let pending = null;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = checked(
      document.getElementById('quantity'),
      document.getElementById('quantity-erreur'),
      document.getElementById('occurred'),
      document.getElementById('occurred-erreur'),
    );
    if (LOGIN_LINK.test(code.value)) {
      code.value = '';
      mark(code, codeError, NOT_THE_CODE);
      code.focus();
      return;
    }
    mark(code, codeError, code.value.trim() ? '' : 'Saisissez le code de 8 caractères du citoyen.');
    if (!code.value.trim()) code.focus();
    if (!values || !code.value.trim()) return;
    if (!(await needKey(result))) return;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    say(result, 'info', 'Certification en cours…');
    try {
      const found = await postJson('/association/citoyens', csrf, { codes: [code.value.trim()] });
      const citizen = found?.citizens?.[0];
      if (!citizen) {
        say(result, 'alert', typeof found?.message === 'string' ? found.message : UNEXPECTED);
        return;
      }
      if (!citizen.citizen_id) {
        mark(code, codeError, citizen.message);
        result.replaceChildren();
        code.focus();
        return;
      }
      const category = document.getElementById('category').value;
      const fresh = certification(citizen.citizen_id, category, values);
      const same =
        pending &&
        ['citizen_id', 'category', 'quantity'].every((field) => pending[field] === fresh[field]) &&
        pending.occurred_at.slice(0, 10) === fresh.occurred_at.slice(0, 10);
      if (!same) pending = fresh;
      const signed = await signObject('certification', pending, key.privateKey);
      const answer = await postJson('/association/certifier', csrf, signed);
      if (answer?.ok) {
        pending = null;
        showFigures(answer.figures);
        say(result, 'ok', answer.message);
        code.value = '';
        code.focus();
        return;
      }
      if (answer && answer.code !== 'outcome_unknown' && answer.code !== 'overloaded') pending = null;
      const message = typeof answer?.message === 'string' ? answer.message : UNEXPECTED;
      say(result, 'alert', message, answer?.code === 'invalid_signature' ? KEY_LINK : undefined);
    } catch (error) {
      say(result, 'alert', error instanceof Error && error.message ? error.message : UNEXPECTED);
    } finally {
      button.disabled = false;
    }
  });

  // A batch.
  const batch = document.getElementById('lot');
  const batchResult = document.getElementById('lot-resultat');
  const table = document.getElementById('lot-tableau');
  const codes = document.getElementById('codes');
  const codesError = document.getElementById('codes-erreur');
  batch.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = checked(
      document.getElementById('lot-quantity'),
      document.getElementById('lot-quantity-erreur'),
      document.getElementById('lot-occurred'),
      document.getElementById('lot-occurred-erreur'),
    );
    let typed = codes.value.split(/[\s,;]+/).filter((text) => text.length > 0);
    let codesMessage = '';
    if (typed.some((text) => LOGIN_LINK.test(text))) {
      typed = typed.filter((text) => !LOGIN_LINK.test(text));
      codes.value = typed.join('\n');
      codesMessage = NOT_THE_CODE;
    } else if (typed.length === 0) codesMessage = 'Saisissez au moins un code de citoyen.';
    else if (typed.length > CODES_MAX) codesMessage = `Un lot compte ${CODES_MAX.toLocaleString('fr-FR')} codes au plus.`;
    mark(codes, codesError, codesMessage);
    if (codesMessage) codes.focus();
    if (!values || codesMessage) return;
    if (!(await needKey(batchResult))) return;
    const button = batch.querySelector('button[type="submit"]');
    button.disabled = true;
    table.replaceChildren();
    say(batchResult, 'info', 'Certification du lot en cours…');
    try {
      const found = await postJson('/association/citoyens', csrf, { codes: typed });
      if (!Array.isArray(found?.citizens)) {
        say(batchResult, 'alert', typeof found?.message === 'string' ? found.message : UNEXPECTED);
        return;
      }
      const category = document.getElementById('lot-category').value;
      const lines = found.citizens.map((citizen) => ({ code: citizen.code, message: citizen.message }));
      const sent = [];
      for (const [index, citizen] of found.citizens.entries()) {
        if (!citizen.citizen_id) continue;
        const signed = await signObject('certification', certification(citizen.citizen_id, category, values), key.privateKey);
        sent.push({ index, signed });
      }
      if (sent.length > 0) {
        const answer = await postJson('/association/lot', csrf, { certifications: sent.map((item) => item.signed) });
        if (!Array.isArray(answer?.results)) {
          say(batchResult, 'alert', typeof answer?.message === 'string' ? answer.message : UNEXPECTED);
          return;
        }
        showFigures(answer.figures);
        answer.results.forEach((line, position) => {
          const target = lines[sent[position].index];
          target.ok = line.ok;
          target.message = line.message;
        });
      }
      const certified = lines.filter((line) => line.ok).length;
      const summary = `${certified} action${certified > 1 ? 's certifiées' : ' certifiée'} sur ${lines.length}.`;
      say(batchResult, certified === lines.length ? 'ok' : 'alert', summary);
      table.replaceChildren(resultTable(lines));
      if (certified === lines.length) codes.value = '';
    } catch (error) {
      say(batchResult, 'alert', error instanceof Error && error.message ? error.message : UNEXPECTED);
    } finally {
      button.disabled = false;
    }
  });
}

/** The table of a batch's lines: the code typed, and what came of it. */
function resultTable(lines) {
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  wrap.tabIndex = 0;
  wrap.setAttribute('role', 'region');
  wrap.setAttribute('aria-label', 'Résultat du lot, code par code');
  const table = document.createElement('table');
  table.dataset.testid = 'lot-lignes';
  const caption = document.createElement('caption');
  caption.className = 'visually-hidden';
  caption.textContent = 'Résultat du lot, dans l’ordre des codes saisis';
  const head = document.createElement('thead');
  const headRow = document.createElement('tr');
  for (const title of ['Code du citoyen', 'Résultat']) {
    const cell = document.createElement('th');
    cell.scope = 'col';
    cell.textContent = title;
    headRow.append(cell);
  }
  head.append(headRow);
  const body = document.createElement('tbody');
  for (const line of lines) {
    const row = document.createElement('tr');
    const codeCell = document.createElement('td');
    codeCell.textContent = line.code;
    const resultCell = document.createElement('td');
    const tag = document.createElement('span');
    tag.className = line.ok ? 'tag' : 'tag tag--alert';
    tag.textContent = line.ok ? 'Certifiée' : 'Refusée';
    resultCell.append(tag, ` ${line.message ?? ''}`);
    row.append(codeCell, resultCell);
    body.append(row);
  }
  table.append(caption, head, body);
  wrap.append(table);
  return wrap;
}

const root = document.getElementById('association');
if (root) page(root);

camera(
  document.getElementById('camera'),
  document.getElementById('camera-video'),
  document.getElementById('code'),
  'Caméra indisponible : saisissez le code',
  (field) => {
    field.value = field.value.trim();
    document.getElementById('category').focus();
  },
);
