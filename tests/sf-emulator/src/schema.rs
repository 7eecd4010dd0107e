//! A small sObject schema registry for the REST side: which objects exist, their key prefixes, their
//! fields (API names, types, required/read-only) and relationships. Names are matched case-insensitively,
//! as Salesforce does; every answer uses the canonical spelling.
//!
//! Objects: Account, Contact, Case, User, VoiceCall (a read-only projection of the Telephony API's
//! records), the RealtimeAlertEvent platform event, and custom objects (any name ending `__c`, accepting
//! `Name` and any `__c` field). Custom fields (`__c`) are accepted on every object, as orgs add them.
//!
//! For the flow look-ups of InvokeSalesforceRestApi: the Field Service objects of the appointment
//! assistant look-up (FieldServiceOrgSettings, ServiceAppointment, ServiceResource, AssignedResource) and
//! the objects of the outbound number look-up (MessagingChannel, ContactCenter, ContactCenterChannel,
//! CallCenterRoutingMap), with the fields those queries read plus a few neighbours. Polymorphic reference
//! fields (`ParentRecordId`, `SessionHandlerId`, `ReferenceRecordId`) accept any id, unchecked.

/// Field data types (the subset the emulator needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Id,
    Reference,
    String,
    TextArea,
    Phone,
    Email,
    Url,
    Picklist,
    Boolean,
    Int,
    Double,
    DateTime,
    Date,
    /// A custom field of unknown type: stored as sent.
    Any,
}

impl FieldType {
    /// Text-like fields (searched by SOSL `ALL FIELDS`, compared case-insensitively).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::TextArea
                | FieldType::Phone
                | FieldType::Email
                | FieldType::Url
                | FieldType::Picklist
                | FieldType::Any
        )
    }
}

/// One field of an object.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Canonical API name.
    pub name: String,
    pub ty: FieldType,
    /// Required on create ("Required fields are missing: [Name]").
    pub required: bool,
    /// Createable and updateable through REST.
    pub writable: bool,
    /// Value given on create when the request has none.
    pub default: Option<&'static str>,
    /// Referenced object of a Reference field.
    pub references: Option<&'static str>,
    /// Relationship name of a Reference field (`Account` for `AccountId`).
    pub relationship: Option<&'static str>,
    /// Allowed values of a restricted picklist.
    pub restricted: Option<&'static [&'static str]>,
    /// A name field (SOSL `NAME FIELDS`).
    pub name_field: bool,
}

impl Field {
    fn new(name: &str, ty: FieldType) -> Field {
        Field {
            name: name.to_owned(),
            ty,
            required: false,
            writable: true,
            default: None,
            references: None,
            relationship: None,
            restricted: None,
            name_field: false,
        }
    }

    fn required(mut self) -> Field {
        self.required = true;
        self
    }

    fn read_only(mut self) -> Field {
        self.writable = false;
        self
    }

    fn default(mut self, value: &'static str) -> Field {
        self.default = Some(value);
        self
    }

    fn name_field(mut self) -> Field {
        self.name_field = true;
        self
    }

    fn restricted(mut self, values: &'static [&'static str]) -> Field {
        self.restricted = Some(values);
        self
    }

    fn reference(name: &str, to: &'static str, relationship: &'static str) -> Field {
        Field { references: Some(to), relationship: Some(relationship), ..Field::new(name, FieldType::Reference) }
    }

    /// A polymorphic reference (any object): an id compared as ids are, never checked on write.
    fn polymorphic(name: &str) -> Field {
        Field::new(name, FieldType::Reference)
    }

    /// A custom (`__c`) field of unknown type, named as given.
    pub fn custom(name: &str) -> Field {
        Field::new(name, FieldType::Any)
    }
}

/// How the records of an object are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// Stored by the REST side (Account, Contact, Case, User, custom objects).
    Stored,
    /// Projected from the Telephony API's VoiceCall records; not writable through REST.
    VoiceCall,
    /// A platform event: publish only (POST), never queried.
    PlatformEvent,
}

/// One object of the registry.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectDef {
    /// Canonical API name.
    pub name: String,
    /// 3-character key prefix of its record ids.
    pub key_prefix: &'static str,
    pub kind: ObjectKind,
    pub fields: Vec<Field>,
    pub custom: bool,
}

/// `Severity` values of RealtimeAlertEvent.
pub const SEVERITIES: &[&str] = &["Critical", "Warning", "Informational"];
/// Case `Status` values that count as closed (`IsClosed`).
pub const CLOSED_STATUSES: &[&str] = &["Closed"];

/// Key prefixes.
pub const ACCOUNT_PREFIX: &str = "001";
pub const CONTACT_PREFIX: &str = "003";
pub const USER_PREFIX: &str = "005";
pub const CASE_PREFIX: &str = "500";
pub const EVENT_PREFIX: &str = "e00";
pub const CUSTOM_PREFIX: &str = "a00";
pub const SERVICE_APPOINTMENT_PREFIX: &str = "08p";
pub const ASSIGNED_RESOURCE_PREFIX: &str = "03r";
pub const SERVICE_RESOURCE_PREFIX: &str = "0Hn";
pub const MESSAGING_CHANNEL_PREFIX: &str = "0Mj";
/// The emulator's own prefixes for objects whose real prefix nothing relies on.
pub const FIELD_SERVICE_SETTINGS_PREFIX: &str = "0Fs";
pub const CONTACT_CENTER_PREFIX: &str = "0Uc";
pub const CONTACT_CENTER_CHANNEL_PREFIX: &str = "0Ud";
pub const CALL_CENTER_ROUTING_MAP_PREFIX: &str = "0Ue";

/// Auto-number fields: object, field, display prefix (`SA-0001`).
pub const AUTO_NUMBERS: &[(&str, &str, &str)] =
    &[("ServiceAppointment", "AppointmentNumber", "SA-"), ("AssignedResource", "AssignedResourceNumber", "AR-")];

fn system_fields(owner: bool) -> Vec<Field> {
    let mut fields =
        vec![Field::new("Id", FieldType::Id).read_only(), Field::new("IsDeleted", FieldType::Boolean).read_only()];
    if owner {
        fields.push(Field::reference("OwnerId", "User", "Owner"));
    }
    fields.extend([
        Field::new("CreatedDate", FieldType::DateTime).read_only(),
        Field::reference("CreatedById", "User", "CreatedBy").read_only(),
        Field::new("LastModifiedDate", FieldType::DateTime).read_only(),
        Field::reference("LastModifiedById", "User", "LastModifiedBy").read_only(),
        Field::new("SystemModstamp", FieldType::DateTime).read_only(),
    ]);
    fields
}

fn account() -> ObjectDef {
    let mut fields = system_fields(true);
    fields.extend([
        Field::new("Name", FieldType::String).required().name_field(),
        Field::new("AccountNumber", FieldType::String),
        Field::new("Phone", FieldType::Phone),
        Field::new("Fax", FieldType::Phone),
        Field::new("Website", FieldType::Url),
        Field::new("Industry", FieldType::Picklist),
        Field::new("Type", FieldType::Picklist),
        Field::new("Description", FieldType::TextArea),
        Field::new("BillingStreet", FieldType::TextArea),
        Field::new("BillingCity", FieldType::String),
        Field::new("BillingPostalCode", FieldType::String),
        Field::new("BillingCountry", FieldType::String),
        Field::new("NumberOfEmployees", FieldType::Int),
        Field::new("AnnualRevenue", FieldType::Double),
    ]);
    ObjectDef { name: "Account".into(), key_prefix: ACCOUNT_PREFIX, kind: ObjectKind::Stored, fields, custom: false }
}

fn contact() -> ObjectDef {
    let mut fields = system_fields(true);
    fields.extend([
        Field::reference("AccountId", "Account", "Account"),
        Field::new("Salutation", FieldType::Picklist),
        Field::new("FirstName", FieldType::String).name_field(),
        Field::new("LastName", FieldType::String).required().name_field(),
        // Compound name: derived from FirstName and LastName.
        Field::new("Name", FieldType::String).read_only().name_field(),
        Field::new("Title", FieldType::String),
        Field::new("Phone", FieldType::Phone),
        Field::new("MobilePhone", FieldType::Phone),
        Field::new("HomePhone", FieldType::Phone),
        Field::new("Email", FieldType::Email),
        Field::new("Description", FieldType::TextArea),
        Field::new("Birthdate", FieldType::Date),
    ]);
    ObjectDef { name: "Contact".into(), key_prefix: CONTACT_PREFIX, kind: ObjectKind::Stored, fields, custom: false }
}

fn case() -> ObjectDef {
    let mut fields = system_fields(true);
    fields.extend([
        Field::new("CaseNumber", FieldType::String).read_only().name_field(),
        Field::reference("ContactId", "Contact", "Contact"),
        Field::reference("AccountId", "Account", "Account"),
        Field::new("Subject", FieldType::String),
        Field::new("Description", FieldType::TextArea),
        Field::new("Status", FieldType::Picklist).default("New"),
        Field::new("Priority", FieldType::Picklist).default("Medium"),
        Field::new("Origin", FieldType::Picklist),
        Field::new("Type", FieldType::Picklist),
        Field::new("Reason", FieldType::Picklist),
        Field::new("SuppliedName", FieldType::String),
        Field::new("SuppliedEmail", FieldType::Email),
        Field::new("SuppliedPhone", FieldType::Phone),
        // Derived: Status is Closed.
        Field::new("IsClosed", FieldType::Boolean).read_only(),
        Field::new("ClosedDate", FieldType::DateTime).read_only(),
        // Derived from the Contact, as Salesforce does.
        Field::new("ContactPhone", FieldType::Phone).read_only(),
        Field::new("ContactMobile", FieldType::Phone).read_only(),
        Field::new("ContactEmail", FieldType::Email).read_only(),
    ]);
    ObjectDef { name: "Case".into(), key_prefix: CASE_PREFIX, kind: ObjectKind::Stored, fields, custom: false }
}

fn user() -> ObjectDef {
    let mut fields = system_fields(false);
    fields.extend([
        Field::new("Username", FieldType::String).required(),
        Field::new("FirstName", FieldType::String).name_field(),
        Field::new("LastName", FieldType::String).required().name_field(),
        Field::new("Name", FieldType::String).read_only().name_field(),
        Field::new("Email", FieldType::Email),
        Field::new("Phone", FieldType::Phone),
        Field::new("IsActive", FieldType::Boolean).default("true"),
    ]);
    ObjectDef { name: "User".into(), key_prefix: USER_PREFIX, kind: ObjectKind::Stored, fields, custom: false }
}

/// The VoiceCall fields the emulator projects from the Telephony API's records (all read-only through
/// REST; custom `__c` fields come from `callAttributes`).
fn voice_call() -> ObjectDef {
    let mut fields = system_fields(true);
    fields.extend([
        Field::new("VendorCallKey", FieldType::String).name_field(),
        Field::new("CallType", FieldType::Picklist),
        Field::new("CallOrigin", FieldType::Picklist),
        Field::new("FromPhoneNumber", FieldType::Phone),
        Field::new("ToPhoneNumber", FieldType::Phone),
        Field::new("CallStartDateTime", FieldType::DateTime),
        Field::new("CallEndDateTime", FieldType::DateTime),
        Field::new("CallDurationInSeconds", FieldType::Int),
        Field::new("CallAcceptDateTime", FieldType::DateTime),
        Field::new("CallQueuedDateTime", FieldType::DateTime),
        Field::new("CustomerHoldDuration", FieldType::Int),
        Field::new("LongestHoldDuration", FieldType::Int),
        Field::new("NumberOfHolds", FieldType::Int),
        Field::new("CallDisposition", FieldType::String),
        Field::new("QueueName", FieldType::String),
        Field::reference("ParentVoiceCallId", "VoiceCall", "ParentVoiceCall"),
        Field::reference("PreviousCallId", "VoiceCall", "PreviousCall"),
    ]);
    for field in fields.iter_mut() {
        field.writable = false;
    }
    ObjectDef {
        name: "VoiceCall".into(),
        key_prefix: crate::state::VOICE_CALL_PREFIX,
        kind: ObjectKind::VoiceCall,
        fields,
        custom: false,
    }
}

fn realtime_alert_event() -> ObjectDef {
    ObjectDef {
        name: "RealtimeAlertEvent".into(),
        key_prefix: EVENT_PREFIX,
        kind: ObjectKind::PlatformEvent,
        fields: vec![
            Field::new("Name", FieldType::String),
            Field::new("Description", FieldType::TextArea),
            Field::new("Source", FieldType::String),
            Field::new("Severity", FieldType::Picklist).restricted(SEVERITIES),
            Field::new("Payload", FieldType::TextArea),
            Field::new("EventDateTime", FieldType::DateTime),
            Field::new("ReplayId", FieldType::String).read_only(),
            Field::new("EventUuid", FieldType::String).read_only(),
            Field::new("CreatedDate", FieldType::DateTime).read_only(),
            Field::reference("CreatedById", "User", "CreatedBy").read_only(),
        ],
        custom: false,
    }
}

fn stored(name: &str, key_prefix: &'static str, owner: bool, extra: Vec<Field>) -> ObjectDef {
    let mut fields = system_fields(owner);
    fields.extend(extra);
    ObjectDef { name: name.to_owned(), key_prefix, kind: ObjectKind::Stored, fields, custom: false }
}

/// Field Service settings: `ApptAssistantStatus` is the ServiceAppointment status the appointment assistant
/// treats as "on the way".
fn field_service_org_settings() -> ObjectDef {
    stored(
        "FieldServiceOrgSettings",
        FIELD_SERVICE_SETTINGS_PREFIX,
        false,
        vec![Field::new("ApptAssistantStatus", FieldType::String)],
    )
}

fn service_appointment() -> ObjectDef {
    stored(
        "ServiceAppointment",
        SERVICE_APPOINTMENT_PREFIX,
        true,
        vec![
            Field::new("AppointmentNumber", FieldType::String).read_only().name_field(),
            Field::polymorphic("ParentRecordId"),
            Field::reference("AccountId", "Account", "Account"),
            Field::reference("ContactId", "Contact", "Contact"),
            Field::new("Subject", FieldType::String),
            Field::new("Description", FieldType::TextArea),
            // Orgs add statuses (the appointment assistant's default is "En Route"): not restricted.
            Field::new("Status", FieldType::Picklist).default("None"),
            Field::new("EarliestStartTime", FieldType::DateTime),
            Field::new("DueDate", FieldType::DateTime),
            Field::new("SchedStartTime", FieldType::DateTime),
            Field::new("SchedEndTime", FieldType::DateTime),
            Field::new("Street", FieldType::TextArea),
            Field::new("City", FieldType::String),
            Field::new("PostalCode", FieldType::String),
        ],
    )
}

fn service_resource() -> ObjectDef {
    stored(
        "ServiceResource",
        SERVICE_RESOURCE_PREFIX,
        true,
        vec![
            Field::new("Name", FieldType::String).required().name_field(),
            Field::reference("RelatedRecordId", "User", "RelatedRecord"),
            Field::new("ResourceType", FieldType::Picklist).default("T"),
            Field::new("IsActive", FieldType::Boolean).default("true"),
        ],
    )
}

fn assigned_resource() -> ObjectDef {
    stored(
        "AssignedResource",
        ASSIGNED_RESOURCE_PREFIX,
        false,
        vec![
            Field::new("AssignedResourceNumber", FieldType::String).read_only().name_field(),
            Field::reference("ServiceAppointmentId", "ServiceAppointment", "ServiceAppointment").required(),
            Field::reference("ServiceResourceId", "ServiceResource", "ServiceResource").required(),
            // Appointment assistant location status (EnRoute, LastMile, ...).
            Field::new("LocationStatus", FieldType::Picklist),
            Field::new("EstimatedTravelTime", FieldType::Double),
            Field::new("IsRequiredResource", FieldType::Boolean),
        ],
    )
}

fn messaging_channel() -> ObjectDef {
    stored(
        "MessagingChannel",
        MESSAGING_CHANNEL_PREFIX,
        false,
        vec![
            Field::new("DeveloperName", FieldType::String),
            Field::new("MasterLabel", FieldType::String).name_field(),
            Field::new("MessageType", FieldType::Picklist),
            Field::new("IsActive", FieldType::Boolean),
            // For a voice channel: its phone number.
            Field::new("MessagingPlatformKey", FieldType::String),
            Field::polymorphic("SessionHandlerId"),
        ],
    )
}

fn contact_center() -> ObjectDef {
    stored(
        "ContactCenter",
        CONTACT_CENTER_PREFIX,
        false,
        vec![
            Field::new("Name", FieldType::String).name_field(),
            // The call center API name.
            Field::new("InternalName", FieldType::String).required(),
        ],
    )
}

fn contact_center_channel() -> ObjectDef {
    stored(
        "ContactCenterChannel",
        CONTACT_CENTER_CHANNEL_PREFIX,
        false,
        vec![
            Field::reference("ContactCenterId", "ContactCenter", "ContactCenter").required(),
            Field::reference("ChannelId", "MessagingChannel", "Channel").required(),
        ],
    )
}

fn call_center_routing_map() -> ObjectDef {
    stored(
        "CallCenterRoutingMap",
        CALL_CENTER_ROUTING_MAP_PREFIX,
        false,
        vec![
            Field::new("Name", FieldType::String).name_field(),
            // The contact center's id of the routed entity (an Amazon Connect agent or queue ARN).
            Field::new("ExternalId", FieldType::String).required(),
            Field::polymorphic("ReferenceRecordId"),
        ],
    )
}

fn custom_object(name: &str) -> ObjectDef {
    let mut fields = system_fields(true);
    fields.push(Field::new("Name", FieldType::String).name_field());
    ObjectDef { name: name.to_owned(), key_prefix: CUSTOM_PREFIX, kind: ObjectKind::Stored, fields, custom: true }
}

/// True for a custom object or field API name (`Thing__c`).
pub fn is_custom_name(name: &str) -> bool {
    name.len() > 3
        && name.to_ascii_lowercase().ends_with("__c")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// The standard objects, in a stable order.
pub const STANDARD_OBJECTS: &[&str] = &[
    "Account",
    "Contact",
    "Case",
    "User",
    "VoiceCall",
    "RealtimeAlertEvent",
    "FieldServiceOrgSettings",
    "ServiceAppointment",
    "ServiceResource",
    "AssignedResource",
    "MessagingChannel",
    "ContactCenter",
    "ContactCenterChannel",
    "CallCenterRoutingMap",
];

/// Looks an object up by API name (case-insensitive). Custom objects keep the spelling given.
pub fn object(name: &str) -> Option<ObjectDef> {
    match name.to_ascii_lowercase().as_str() {
        "account" => Some(account()),
        "contact" => Some(contact()),
        "case" => Some(case()),
        "user" => Some(user()),
        "voicecall" => Some(voice_call()),
        "realtimealertevent" => Some(realtime_alert_event()),
        "fieldserviceorgsettings" => Some(field_service_org_settings()),
        "serviceappointment" => Some(service_appointment()),
        "serviceresource" => Some(service_resource()),
        "assignedresource" => Some(assigned_resource()),
        "messagingchannel" => Some(messaging_channel()),
        "contactcenter" => Some(contact_center()),
        "contactcenterchannel" => Some(contact_center_channel()),
        "callcenterroutingmap" => Some(call_center_routing_map()),
        _ if is_custom_name(name) => Some(custom_object(name)),
        _ => None,
    }
}

impl ObjectDef {
    /// A field by API name (case-insensitive); any `__c` name is accepted as a custom field.
    pub fn field(&self, name: &str) -> Option<Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .cloned()
            .or_else(|| (is_custom_name(name) && self.kind != ObjectKind::PlatformEvent).then(|| Field::custom(name)))
    }

    /// The reference field behind a relationship name (`Account` -> `AccountId`), case-insensitive.
    /// Custom relationships `Thing__r` resolve through `Thing__c`.
    pub fn relationship(&self, name: &str) -> Option<Field> {
        self.fields.iter().find(|f| f.relationship.is_some_and(|r| r.eq_ignore_ascii_case(name))).cloned()
    }

    /// Fields whose value the emulator computes (never accepted in requests).
    pub fn is_platform_event(&self) -> bool {
        self.kind == ObjectKind::PlatformEvent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_case_insensitively_with_canonical_names() {
        assert_eq!(object("account").map(|o| o.name), Some("Account".into()));
        assert_eq!(object("CASE").map(|o| o.key_prefix), Some("500"));
        assert_eq!(object("Voicecall").map(|o| o.key_prefix), Some("0LQ"));
        assert_eq!(object("realtimeAlertEvent").map(|o| o.kind), Some(ObjectKind::PlatformEvent));
        assert!(object("Opportunity").is_none());
        let custom = object("Invoice__c").expect("custom");
        assert!(custom.custom);
        assert!(custom.field("Amount__c").is_some());
        assert!(custom.field("Name").is_some());
        assert!(custom.field("Amount").is_none());
        assert!(object("__c").is_none());
    }

    #[test]
    fn fields_and_relationships() {
        let contact = object("Contact").expect("contact");
        assert_eq!(contact.field("lastname").map(|f| (f.name, f.required)), Some(("LastName".into(), true)));
        assert!(contact.field("Bogus").is_none());
        assert_eq!(contact.relationship("account").map(|f| f.name), Some("AccountId".into()));
        let case = object("Case").expect("case");
        assert_eq!(case.field("Status").and_then(|f| f.default), Some("New"));
        assert!(!case.field("IsClosed").expect("IsClosed").writable);
        let event = object("RealtimeAlertEvent").expect("event");
        assert_eq!(event.field("severity").and_then(|f| f.restricted), Some(SEVERITIES));
        assert!(event.field("X__c").is_none(), "no custom fields on the event");
        let vc = object("VoiceCall").expect("vc");
        assert!(vc.fields.iter().all(|f| !f.writable));
        assert!(vc.field("CustomerHoldDuration").is_some());
    }
}
