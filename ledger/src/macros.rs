//! Macros for what every aggregate and event enum share: the cqrs-es adapter around the pure
//! `decide`/`apply_event`, and the stored name and version of each event variant.

/// Implements `cqrs_es::Aggregate` as a thin adapter: `handle` writes what `decide` returns,
/// `apply` is `apply_event`.
macro_rules! aggregate {
    ($state:ty, $command:ty, $event:ty) => {
        impl cqrs_es::Aggregate for $state {
            const TYPE: &'static str = <$event as $crate::codec::Versioned>::AGGREGATE_TYPE;
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

/// Implements [`crate::codec::Versioned`] and `cqrs_es::DomainEvent` for an aggregate's events:
/// the stored event type is the variant's name, with the version of its current shape; older
/// versions are read through `upcasters` (a `fn(kind, version) -> Option<Upcaster>`). A variant
/// whose shape changes gets a new version and an upcaster from the old one; stored events are
/// never rewritten.
macro_rules! domain_event {
    ($event:ident in $aggregate:literal { $($variant:ident = $version:literal),+ $(,)? } upcasters: $upcasters:path) => {
        impl $crate::codec::Versioned for $event {
            const AGGREGATE_TYPE: &'static str = $aggregate;

            fn kind(&self) -> &'static str {
                match self {
                    $($event::$variant { .. } => stringify!($variant),)+
                }
            }

            fn version(&self) -> &'static str {
                match self {
                    $($event::$variant { .. } => $version,)+
                }
            }

            fn current_version(kind: &str) -> Option<&'static str> {
                match kind {
                    $(stringify!($variant) => Some($version),)+
                    _ => None,
                }
            }

            fn upcaster(kind: &str, version: &str) -> Option<$crate::codec::Upcaster> {
                $upcasters(kind, version)
            }
        }

        impl cqrs_es::DomainEvent for $event {
            fn event_type(&self) -> String {
                $crate::codec::Versioned::kind(self).to_owned()
            }

            fn event_version(&self) -> String {
                $crate::codec::Versioned::version(self).to_owned()
            }
        }
    };
}

pub(crate) use aggregate;
pub(crate) use domain_event;
