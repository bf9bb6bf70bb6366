"""`tap-chatnode`: the connector as a Singer tap (Meltano), built on Meltano's singer-sdk.

It runs the same declarative source as `source-chatnode` (`manifest.yaml` through airbyte-cdk), in
process: singer-sdk brings the Singer protocol (config, discovery, catalog selection, state
messages), the connector brings everything about ChatNode. singer_sdk is imported only in this
package, so the connector keeps working without the `[singer]` extra.
"""
