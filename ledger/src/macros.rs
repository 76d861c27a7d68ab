//! Macros for what every aggregate and event enum share: the cqrs-es adapter around the pure
//! `decide`/`apply_event`, and the stored name and version of each event variant.

/// Implements `cqrs_es::Aggregate` as a thin adapter: `handle` writes what `decide` returns,
/// `apply` is `apply_event`.
macro_rules! aggregate {
    ($state:ty, $name:literal, $command:ty, $event:ty) => {
        impl cqrs_es::Aggregate for $state {
            const TYPE: &'static str = $name;
            type Command = $command;
            type Event = $event;
            type Error = $crate::error::LedgerError;
            type Services = ();

            async fn handle(
                &mut self,
                command: Self::Command,
                _services: &Self::Services,
                sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), Self::Error> {
                for event in self.decide(command)? {
                    sink.write(event, self).await;
                }
                Ok(())
            }

            fn apply(&mut self, event: Self::Event) {
                self.apply_event(event);
            }
        }
    };
}

/// Implements `cqrs_es::DomainEvent`: the event type is the variant's name, the version "1" (bump
/// it per variant with an upcaster when a shape changes).
macro_rules! domain_event {
    ($event:ident { $($variant:ident),+ $(,)? }) => {
        impl cqrs_es::DomainEvent for $event {
            fn event_type(&self) -> String {
                match self {
                    $($event::$variant { .. } => stringify!($variant),)+
                }
                .to_owned()
            }

            fn event_version(&self) -> String {
                "1".to_owned()
            }
        }
    };
}

pub(crate) use aggregate;
pub(crate) use domain_event;
