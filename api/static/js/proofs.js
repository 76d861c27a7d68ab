// /moi/preuves: checks in this browser, with WebCrypto, that each of the citizen's actions is in
// the public log. For each action: the latest checkpoint is verified against the territory's
// public key shown on the page; the proof's event is hashed here (its leaf is recomputed, not
// taken from the server), checked to be this citizen's, and its inclusion proof is checked
// against the checkpoint's signed root (RFC 9162).
import { eventLeafHash, verifyCheckpoint, verifyInclusion } from "./ygor-crypto.js";

const section = document.getElementById("proofs");
const status = document.getElementById("checkpoint-status");
const citizenId = section.dataset.citizen;
const publicKey = section.dataset.publicKey;

function say(element, text, ok) {
  element.textContent = text;
  element.classList.toggle("is-ok", ok === true);
  element.classList.toggle("is-alert", ok === false);
}

async function json(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

async function checkAction(item, checkpoint, dateText) {
  const output = item.querySelector(".proof-status");
  const position = Number(item.dataset.position);
  if (position > checkpoint.tree_size) {
    say(output, "Pas encore dans le dernier point de contrôle signé : rechargez la page dans quelques secondes.", null);
    return;
  }
  try {
    const proof = await json(`/moi/preuves/preuve?position=${position}&taille=${checkpoint.tree_size}`);
    const leafHash = await eventLeafHash(proof.event);
    const mine = proof.event.aggregate_id === citizenId && proof.event.position === position;
    const included = await verifyInclusion({
      leafHash,
      leafIndex: proof.leaf_index,
      treeSize: checkpoint.tree_size,
      auditPath: proof.audit_path,
      rootHash: checkpoint.root_hash,
    });
    if (mine && included) {
      say(output, `Vérifié : votre action du ${dateText} est bien inscrite au registre public.`, true);
    } else {
      say(output, "Échec de la vérification : cette preuve ne correspond pas au registre signé. Signalez-le à la collectivité.", false);
    }
  } catch (error) {
    say(output, "La preuve n'a pas pu être téléchargée. Rechargez la page pour réessayer.", false);
  }
}

async function main() {
  say(status, "Vérification du dernier point de contrôle…", null);
  let checkpoint;
  try {
    checkpoint = await json("/v1/audit/checkpoint");
  } catch (error) {
    say(status, "Aucun point de contrôle signé n'est encore publié. Réessayez dans quelques secondes.", false);
    return;
  }
  let signed = false;
  try {
    signed = checkpoint.public_key === publicKey && (await verifyCheckpoint(checkpoint, publicKey));
  } catch (error) {
    say(status, `Ce navigateur ne sait pas vérifier les signatures Ed25519 (${error.message}).`, false);
    return;
  }
  if (!signed) {
    say(status, "Le point de contrôle n'est pas signé par la clé du territoire affichée ci-dessus.", false);
    return;
  }
  say(status, `Point de contrôle signé par le territoire vérifié : ${checkpoint.tree_size} événements au registre.`, true);
  for (const item of document.querySelectorAll("[data-position]")) {
    const heading = item.querySelector("h3").textContent;
    const dateText = heading.split(" · ").pop();
    await checkAction(item, checkpoint, dateText);
  }
}

main();
