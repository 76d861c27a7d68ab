//! What citizens and missions may name: the categories and neighbourhoods of the rules in force.
//!
//! A category or neighbourhood that no rules define would match nothing, count in no dashboard row
//! anyone expects, and let a client fill the log with words of its own; so every place that names
//! one (a certification, a citizen's interests, a mission) is checked here, against the version
//! in force when the request arrives. Before any rules are published there is nothing to check
//! against, and names are taken as given. Rules without `[[neighbourhoods]]` accept any
//! neighbourhood.

use ygor_rules::Rules;

use crate::error::LedgerError;
use crate::ids::CategoryId;

/// Refuses the first category the rules in force do not define.
pub fn check_categories(rules: Option<&Rules>, categories: &[CategoryId]) -> Result<(), LedgerError> {
    let Some(rules) = rules else {
        return Ok(());
    };
    match categories.iter().find(|category| rules.category(category.as_str()).is_none()) {
        Some(unknown) => Err(LedgerError::UnknownCategory(unknown.clone())),
        None => Ok(()),
    }
}

/// Refuses a neighbourhood the rules in force do not declare, when they declare some.
pub fn check_neighbourhood(rules: Option<&Rules>, neighbourhood: Option<&str>) -> Result<(), LedgerError> {
    match (rules, neighbourhood) {
        (Some(rules), Some(neighbourhood)) if !rules.accepts_neighbourhood(neighbourhood) => {
            Err(LedgerError::UnknownNeighbourhood(neighbourhood.to_owned()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(neighbourhoods: &str) -> Rules {
        let source = format!(
            "[tokens]\nlifetime = \"P6M\"\n\n[[categories]]\nid = \"ecologie\"\nlabel = \"Écologie\"\ntokens_per_action = 10\n{neighbourhoods}"
        );
        Rules::parse(&source).expect("test rules")
    }

    fn categories(ids: &[&str]) -> Vec<CategoryId> {
        ids.iter().map(|id| CategoryId::parse(id).expect("a category id")).collect()
    }

    #[test]
    fn a_category_the_rules_do_not_define_is_unknown() {
        let rules = rules("");
        assert_eq!(check_categories(Some(&rules), &categories(&["ecologie"])), Ok(()));
        assert_eq!(check_categories(Some(&rules), &[]), Ok(()));
        assert_eq!(
            check_categories(Some(&rules), &categories(&["ecologie", "sport"])),
            Err(LedgerError::UnknownCategory(CategoryId::parse("sport").expect("an id")))
        );
    }

    #[test]
    fn before_any_rules_every_name_is_taken_as_given() {
        assert_eq!(check_categories(None, &categories(&["sport"])), Ok(()));
        assert_eq!(check_neighbourhood(None, Some("Ailleurs")), Ok(()));
    }

    #[test]
    fn any_neighbourhood_passes_rules_that_declare_none() {
        assert_eq!(check_neighbourhood(Some(&rules("")), Some("Plaisance")), Ok(()));
        assert_eq!(check_neighbourhood(Some(&rules("")), None), Ok(()));
    }

    #[test]
    fn only_a_declared_neighbourhood_passes_rules_that_declare_some() {
        let rules = rules("\n[[neighbourhoods]]\nid = \"plaisance\"\nlabel = \"Plaisance\"\n");
        assert_eq!(check_neighbourhood(Some(&rules), Some("plaisance")), Ok(()));
        assert_eq!(check_neighbourhood(Some(&rules), None), Ok(()));
        assert_eq!(
            check_neighbourhood(Some(&rules), Some("Gare")),
            Err(LedgerError::UnknownNeighbourhood("Gare".to_owned()))
        );
    }
}
