//! What a page says when the engine refuses: the API's stable error codes in plain French, each
//! with what the person can do. The API's own `detail` is English and meant for developers.

use crate::error::ApiError;

/// The French message of an API refusal.
pub fn french(error: &ApiError) -> String {
    french_for_code(error.code)
}

/// The French message of an API error code (a generic one for a code it does not know).
pub fn french_for_code(code: &str) -> String {
    let text = match code {
        "insufficient_balance" => {
            "Votre solde ne suffit pas pour ce bon. Gagnez des jetons en agissant, ou choisissez une offre moins chère."
        }
        "insufficient_gold" => "Vous n'avez pas assez de jetons d'or pour ce nombre de tickets.",
        "voucher_used" => "Ce bon a déjà été utilisé : il ne sert qu'une fois.",
        "voucher_expired" => "Ce bon a expiré. Le citoyen peut en obtenir un nouveau depuis son téléphone.",
        "invalid_voucher" => "Ce bon n'est pas valable ici : vérifiez le code et l'offre choisie.",
        "unknown_countermark" => {
            "Aucun bon en cours ne correspond à ce code. Vérifiez les 8 caractères, ou demandez au citoyen d'afficher un nouveau bon."
        }
        "offer_full" => "Cette offre est complète pour la période en cours. Réessayez à la prochaine période.",
        "offer_closed" => "Cette offre n'est plus proposée.",
        "unknown_offer" => "Cette offre n'existe pas ou plus.",
        "offer_not_for_you" => "Cette offre est réservée à un autre public (âge ou quartier).",
        "draw_closed" => "Ce tirage est clos : on ne peut plus y participer.",
        "draw_open" => "Ce tirage est encore ouvert.",
        "partner_suspended" => "Ce partenaire est suspendu par la collectivité.",
        "invalid_signature" => {
            "La signature ne correspond pas à la clé enregistrée pour ce partenaire. Importez le bon fichier de clé."
        }
        "envelope_exhausted" => {
            "L'enveloppe de l'association ne suffit plus pour cette action. Demandez à la collectivité de la réalimenter."
        }
        "treasury_exhausted" => {
            "La réserve de la collectivité ne suffit pas pour cette allocation : émettez des jetons ou allouez moins."
        }
        "unknown_partner" => "Ce partenaire n'existe pas, ou n'est pas du bon type (association ou lieu).",
        "unknown_citizen" => "Aucun citoyen n'a ce code. Vérifiez les 8 caractères avec le citoyen.",
        "occurred_in_future" => "La date de l'action est dans le futur : indiquez le jour où elle a eu lieu.",
        "occurred_too_long_ago" => "Cette action est trop ancienne pour être certifiée selon les règles du territoire.",
        "id_conflict" => "Cet identifiant a déjà servi pour autre chose. Rechargez la page et recommencez.",
        "unknown_neighbourhood" => "Ce quartier n'existe pas dans les règles du territoire.",
        "unknown_category" => "Cette catégorie d'action n'existe pas dans les règles en vigueur.",
        "not_found" => "Cette page ou cet élément n'existe pas.",
        "forbidden" => "Vous n'avez pas accès à cet élément.",
        "unauthorized" => "Votre session a expiré. Connectez-vous à nouveau.",
        "validation_failed" => "Une information saisie n'est pas valable. Vérifiez le formulaire.",
        "rules_not_published" => "Le territoire n'a pas encore publié ses règles.",
        "overloaded" | "contention" | "storage_unavailable" | "request_timeout" | "projection_lagging" => {
            "Le service est très sollicité en ce moment. Réessayez dans quelques secondes."
        }
        "outcome_unknown" => {
            "Nous ne savons pas si l'opération a abouti. Rechargez la page pour vérifier avant de recommencer."
        }
        _ => "Une erreur inattendue est survenue. Réessayez ; si elle persiste, signalez-la à la collectivité.",
    };
    text.to_owned()
}
