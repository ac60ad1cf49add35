"""The site poller: devices that cannot run an agent, polled over SNMP and SSH, and reachability."""
