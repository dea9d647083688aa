//! Values read from text into their typed form while the configuration is deserialized, so
//! each is parsed once and a bad one is reported under its own key (serde's path names it).

use serde::{de::Error, Deserialize, Deserializer};

use crate::uplink::{
    mqtt::{BrokerList, Protocol},
    tls, ws,
};

pub fn brokers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BrokerList>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|u| BrokerList::parse(&u).map_err(D::Error::custom))
        .transpose()
}

pub fn protocol<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
    Protocol::parse(&String::deserialize(d)?).map_err(D::Error::custom)
}

pub fn ws_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|u| ws::normalize_url(&u).map_err(D::Error::custom))
        .transpose()
}

pub fn pin<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|p| tls::parse_pin(&p).map_err(D::Error::custom))
        .transpose()
}
