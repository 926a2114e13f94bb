// mpe-approver: the approver itself, in one resource group.
//
// Deploys: a user-assigned identity (the only identity the app uses), Log Analytics + workspace-based
// Application Insights (Entra-only ingestion), a storage account (Functions host storage, the Flex
// deployment package container, the Event Grid dead-letter container; no shared keys), a Service Bus
// namespace with the work and parking queues (Entra-only), the data-plane role assignments of the
// identity, and the Function App on a Flex Consumption plan (custom handler, Linux).
//
// Deploy order:
//   1. this file:     az deployment group create -g <rg> -f infra/main.bicep [-p name=... dryRun=true ...]
//   2. the code:      zip host.json, the mpe-approver binary (executable, built for glibc <= 2.31) and the
//                     MpeCheck/ MpeDiscover/ MpeEvent/ MpePlsScan/ MpeReplay/ MpeSweep/ folders (function.json each) at the zip root, then
//                     az functionapp deployment source config-zip -g <rg> -n <functionAppName> --src app.zip
//   3. per watched subscription (the MpeEvent function must exist by then):
//                     az deployment sub create --subscription <sub> -l <location> -f infra/subscription.bicep \
//                       -p functionAppId=<functionAppId> identityPrincipalId=<identityPrincipalId> \
//                          deadLetterStorageAccountId=<storageAccountId>
//      and with watchEvents=false for a subscription that only holds target resources (role only).
// Every value step 3 needs is an output of this file.
//
// Alternative host: Elastic Premium (EP1) instead of Flex Consumption, e.g. where Flex is not offered or
// always-warm instances / slots are wanted. What changes:
//   - plan: Microsoft.Web/serverfarms sku { name: 'EP1', tier: 'ElasticPremium' }, kind: 'elastic',
//     properties { reserved: true, maximumElasticWorkerCount: <n> } (Linux needs reserved: true).
//   - site: no functionAppConfig. siteConfig.linuxFxVersion: '' (the 'custom' entry of the Functions stack
//     list has no language image: linuxFxVersion '' and app setting FUNCTIONS_WORKER_RUNTIME=custom), plus
//     app settings FUNCTIONS_WORKER_RUNTIME=custom and FUNCTIONS_EXTENSION_VERSION=~4 (both must NOT be set on
//     Flex, where functionAppConfig.runtime replaces them); scale-out via siteConfig.functionAppScaleLimit,
//     always-ready via siteConfig.minimumElasticInstanceCount.
//   - code: WEBSITE_RUN_FROM_PACKAGE=<blob URL of the zip> with WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID=
//     <identity resource id> (Storage Blob Data Owner below covers the read), or zip deploy with
//     WEBSITE_RUN_FROM_PACKAGE=1.
//   - content share: EP normally mounts an Azure Files share (WEBSITE_CONTENTAZUREFILECONNECTIONSTRING,
//     WEBSITE_CONTENTSHARE), which takes an account key and so conflicts with allowSharedKeyAccess: false.
//     Check the current Functions storage guidance for Linux EP without a content share before choosing EP.
//   - unchanged: the identity, AzureWebJobsStorage__*, ServiceBusConnection__*, every MPE_* setting, the
//     queues, the roles and subscription.bicep.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------------
// Parameters: naming and hosting
// ---------------------------------------------------------------------------------------------------

@description('Name prefix for every resource (lower-case letters, digits and hyphens); a hash of the resource group id is appended.')
@minLength(2)
@maxLength(16)
param name string = 'mpe-approver'

@description('Name of this approver instance (subscription.bicep instanceName). A second approver in the same resource group needs its own; the default instance keeps the original resource names.')
@minLength(1)
@maxLength(20)
param instanceName string = 'default'

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Tags applied to every resource.')
param tags object = {}

@description('Flex Consumption: the most instances the app may scale out to (the plan allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption: memory per instance in MB. The handler needs little; 2048 is the platform default.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Service Bus tier. Basic is not offered: it has no duplicate detection, which the work queue relies on to collapse duplicate events.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('Days Log Analytics keeps the logs, 30 to 730 (the PerGB2018 range). Application Insights is workspace-based, so its data (every decision and approval) follows. Default 90: the audit trail of approvals needs more than a month (and Application Insights tables keep 90 days at no retention charge).')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 90

@description('Resource id of an existing action group (Microsoft.Insights/actionGroups) the alerts on parked and dead-lettered items notify. Empty: the alerts still fire and show in Azure Monitor, without notifying anyone.')
param actionGroupId string = ''

// ---------------------------------------------------------------------------------------------------
// Parameters: queues
// ---------------------------------------------------------------------------------------------------

@description('The work queue (MPE_QUEUE_NAME).')
@minLength(1)
@maxLength(260)
param workQueueName string = 'mpe-approvals'

@description('The parking queue (MPE_PARKING_QUEUE_NAME): items that cannot succeed, with a parkreason property.')
@minLength(1)
@maxLength(260)
param parkingQueueName string = 'mpe-approvals-parked'

@description('Work queue duplicate-detection window (ISO 8601). It must cover a whole check chain: checks stop after giveUpAfter (2 h by default). Can only be chosen when the queue is created together with duplicate detection; the window itself can be changed later.')
param duplicateDetectionWindow string = 'PT3H'

@description('How long parked items stay on the parking queue (ISO 8601). Default: the Service Bus maximum, i.e. no expiry: a parked item stays until someone replays or removes it. A shorter value moves expired items to the parking queue\'s dead-letter queue (never drops them), which the dead-letter alert watches.')
param parkingMessageTimeToLive string = 'P10675199DT2H48M5.4775807S'

@description('Parking queue maxDeliveryCount (Service Bus: at least 1, default 10): deliveries after which Service Bus dead-letters a message. Every peek-lock receive that ends without completing the message counts, and replay scans the parking queue that way, so the default is high enough that looking at a parked item never dead-letters it.')
@minValue(1)
@maxValue(2147483647)
param parkingMaxDeliveryCount int = 1000

// ---------------------------------------------------------------------------------------------------
// Parameters: the handler's tunables (defaults are the code's defaults; see the Configuration table)
// ---------------------------------------------------------------------------------------------------

@description('MPE_DRY_RUN: decide and log "would approve", change nothing.')
param dryRun bool = false

@description('MPE_SOURCE_SUBSCRIPTIONS: subscription ids (or management group ids, /providers/Microsoft.Management/managementGroups/<id>) whose MPEs are handled; empty = all.')
param sourceSubscriptions array = []

@description('MPE_TARGET_SUBSCRIPTIONS: subscription ids (or management group ids) whose private endpoint connections may be approved; empty = all.')
param targetSubscriptions array = []

@description('MPE_ALLOW: comma-separated approval rules, each same-subscription or <source scope>-><target scope> (scope: *, /subscriptions/<id>, a resource group id or a resource id). Empty means same-subscription.')
param allowRules string = 'same-subscription'

@description('MPE_FIRST_CHECK_DELAY: delay from the event to the first check, at least (500ms, 5s, 2m, 1h).')
param firstCheckDelay string = '2s'

@description('MPE_CHECK_SCHEDULE: intervals between checks, interval*count, the last repeats.')
param checkSchedule string = '2s*15,3s*20,10s*24,30s'

@description('MPE_CHECK_JITTER: +/- fraction of an interval each check instant moves by, 0 to 0.5, the same for the MPEs of one parent (a string: Bicep has no decimals).')
param checkJitter string = '0.1'

@description('MPE_LEARN_READINESS: once an instance has seen 10 MPEs of one service turn pending, the checks of the next ones follow what it saw (faster approvals for a few percent more ARM reads); false: checkSchedule alone.')
param learnReadiness bool = false

@description('MPE_GIVE_UP_AFTER: stop checking and park the item after this long. Keep it below duplicateDetectionWindow.')
param giveUpAfter string = '2h'

@description('MPE_CHECK_BUDGET: time budget of one MpeCheck invocation; below host.json functionTimeout (2 min).')
param checkBudget string = '60s'

@description('MPE_EVENT_BUDGET: time budget of one MpeEvent invocation (Event Grid waits about 30 s).')
param eventBudget string = '20s'

@description('MPE_REPLAY_BUDGET: time budget of one MpeReplay invocation.')
param replayBudget string = '20s'

@description('MPE_REPLAY_MAX: queued messages one MpeReplay call moves at most (1 to 100; the CLI\'s --max is separate).')
@minValue(1)
@maxValue(100)
param replayMax int = 10

@description('MPE_SWEEP_SCHEDULE: NCRONTAB schedule (six fields, UTC) of the MpeSweep timer, which enumerates MPEs not yet approved and queues a check for each. Default: daily at 03:30.')
@minLength(11)
param sweepSchedule string = '0 30 3 * * *'

@description('MPE_SWEEP_SCOPES: subscription or resource group ids (/subscriptions/<id>[/resourceGroups/<name>]) the sweep enumerates. Empty = the sourceSubscriptions; with those empty too the sweep has nothing to enumerate (deploy.sh passes the watched subscriptions).')
param sweepScopes array = []

@description('MPE_SWEEP_BUDGET: time budget of one MpeSweep run (below the host\'s functionTimeout of 2 minutes).')
param sweepBudget string = '100s'

@description('MPE_SWEEP_MAX_CALLS: ARM calls one sweep run may make (1 to 100000); past it the run stops and logs what it did not reach.')
@minValue(1)
@maxValue(100000)
param sweepMaxCalls int = 500

@description('MPE_CUSTOMER_ENDPOINTS: also approve customers\' own private endpoints with a manual connection (Microsoft.Network/privateEndpoints), as the approval policy allows. Off by default: a manual connection is its target owner\'s gate.')
param customerEndpoints bool = false

@description('MPE_ENDPOINT_NAMES: private endpoint naming rules replacing a provider\'s, <MPE type>=<pattern> separated by ";" (docs/configuration.md, "When a naming rule is wrong"). Empty = each provider\'s own rule.')
param endpointNames string = ''
@description('MPE_PLS_WATCH: Private Link Service ids, and subscription or resource group ids (/subscriptions/<id>[/resourceGroups/<name>]) whose Private Link Services are listed, that the MpePlsScan timer reads for Pending connections (docs/private-link-service.md). Empty: none, and the timer is disabled. The identity needs the custom role (subscription.bicep) where they are.')
param plsWatch array = []

@description('MPE_PLS_SCHEDULE: NCRONTAB schedule (six fields, UTC) of the MpePlsScan timer. Default: every minute.')
@minLength(11)
param plsSchedule string = '0 * * * * *'

@description('MPE_PLS_ALLOW: which consumers may be approved on which Private Link Service, in the grammar of MPE_ALLOW (source: the consumer\'s private endpoint; target: the Private Link Service), comma-separated. Empty means same-subscription.')
param plsAllowRules string = 'same-subscription'

@description('MPE_PLS_REQUIRE_MESSAGE: per scope (*, a subscription, a resource group or a Private Link Service id; the most specific wins), the regular expression a connection\'s request message must match whole, e.g. {\'*\': \'CHG[0-9]{7}.*\'}. Empty: no requirement.')
param plsRequireMessage object = {}

@description('MPE_PLS_REJECT_AFTER: reject a connection left Pending because no rule allows it or its message does not match, once the app has seen it Pending this long (a duration such as 168h, at most 720h); off: never.')
param plsRejectAfter string = 'off'

@description('MPE_PLS_BUDGET: time budget of one MpePlsScan run (below the host\'s functionTimeout of 2 minutes; keep it below the schedule\'s interval).')
param plsBudget string = '50s'

@description('MPE_PLS_MAX_CALLS: ARM calls one MpePlsScan run may make (1 to 100000; an approval or a rejection counts 10); past it the run stops and logs what it did not read.')
@minValue(1)
@maxValue(100000)
param plsMaxCalls int = 100

@description('MPE_SYNAPSE: also discover (MpeDiscover timer) and approve the managed private endpoints of Synapse workspaces under the sweep scopes. They live on each workspace\'s data plane and raise no ARM event. The identity needs Synapse RBAC on each workspace (docs/discovery.md). Off by default, and the timer is then disabled.')
param synapse bool = false

@description('MPE_SYNAPSE_ENDPOINT: a Synapse workspace\'s data plane, {workspace} standing for the workspace\'s name (sovereign clouds).')
param synapseEndpoint string = 'https://{workspace}.dev.azuresynapse.net'

@description('MPE_SYNAPSE_AUDIENCE: token audience of the Synapse data plane (sovereign clouds).')
param synapseAudience string = 'https://dev.azuresynapse.net'

@description('MPE_DATABRICKS: also discover (MpeDiscover timer) and approve the private endpoint rules of the Databricks network connectivity configurations databricksNccs names (the account API raises no Azure event). The identity must be a Databricks account admin (docs/discovery.md). Off by default.')
param databricks bool = false

@description('MPE_DATABRICKS_NCCS: the NCCs whose rules MpeDiscover lists, each <account id>/<NCC id>@/subscriptions/<id>/resourceGroups/<name> (the resource group the approver files the NCC under: its subscription is the source the approval policy compares with the target\'s).')
param databricksNccs array = []

@description('MPE_DATABRICKS_ENDPOINT: the Databricks account API.')
param databricksEndpoint string = 'https://accounts.azuredatabricks.net'

@description('MPE_DATABRICKS_AUDIENCE: token audience of the account API. Empty: the Azure Databricks application\'s id, the setting\'s default (docs/configuration.md).')
param databricksAudience string = ''

@description('MPE_FABRIC: also discover (MpeDiscover timer) the managed private endpoints of the Fabric workspaces fabricWorkspaces names (the Fabric REST API raises no Azure event). Fabric publishes nothing that ties a PEC to its MPE: one is approved only under an endpointNames rule for MpeApprover.Fabric/workspaces/managedPrivateEndpoints, and parked without one. The identity needs the viewer role on each workspace (docs/discovery.md). Off by default.')
param fabric bool = false

@description('MPE_FABRIC_WORKSPACES: the Fabric workspaces whose MPEs MpeDiscover lists, each <workspace id>@/subscriptions/<id>/resourceGroups/<name> (the resource group the approver files the workspace under: its subscription is the source the approval policy compares with the target\'s).')
param fabricWorkspaces array = []

@description('MPE_FABRIC_ENDPOINT: the Fabric REST API.')
param fabricEndpoint string = 'https://api.fabric.microsoft.com'

@description('MPE_FABRIC_AUDIENCE: token audience of the Fabric REST API.')
param fabricAudience string = 'https://api.fabric.microsoft.com'

@description('MPE_DISCOVER_SCHEDULE: NCRONTAB schedule (six fields, UTC) of the MpeDiscover timer. Default: every minute.')
@minLength(11)
param discoverSchedule string = '0 * * * * *'

@description('MPE_DISCOVER_BUDGET: time budget of one MpeDiscover run (below the host\'s functionTimeout of 2 minutes; keep it below the schedule\'s interval).')
param discoverBudget string = '50s'

@description('MPE_DISCOVER_MAX_CALLS: ARM and data-plane calls one MpeDiscover run may make (1 to 100000); past it the run stops and logs what it did not reach.')
@minValue(1)
@maxValue(100000)
param discoverMaxCalls int = 200

@description('MPE_MESSAGE_TTL: time-to-live of queued work items. Must not exceed the work queue\'s default TTL (2 days here).')
param messageTtl string = '24h'

@description('MPE_SERVICEBUS_AUDIENCE: token audience for Service Bus.')
param serviceBusAudience string = 'https://servicebus.azure.net'

@description('RUST_LOG: the handler\'s log filter.')
param rustLog string = 'info'

// ---------------------------------------------------------------------------------------------------
// Parameters: operations (who may replay)
// ---------------------------------------------------------------------------------------------------

@description('Client (application) id of an existing Entra ID app registration that defines the app role MpeReplay.Operator (Bicep cannot create app registrations; infra/README.md "Who may replay" has the commands). Set: the Function App gets App Service authentication (Entra ID, 401 for requests without a valid token, the Event Grid webhook excluded) and MpeReplay also requires that role (MPE_REPLAY_ROLE). Empty: MpeReplay is protected by its function key alone.')
param replayAuthClientId string = ''

@description('Object ids of the users or groups who operate the approver with the mpe-approver CLI (status, replay) and the workbook. Each gets, with Entra ID only: Azure Service Bus Data Sender on the work queue (replay queues work), Azure Service Bus Data Receiver on the work queue (its dead-letter queue) and on the parking queue (replay takes items off them), Reader on the namespace (status reads queue depths through ARM), and Reader on the workbook and on Application Insights (the workbook and its queries). Nothing on the resource group. Empty: none.')
param operatorPrincipalIds array = []

// ---------------------------------------------------------------------------------------------------
// Variables
// ---------------------------------------------------------------------------------------------------

var token = instanceName == 'default' ? uniqueString(resourceGroup().id) : uniqueString(resourceGroup().id, instanceName)
var prefix = toLower(name)
var functionAppName = 'func-${prefix}-${token}'
var planName = 'plan-${prefix}-${token}'
var identityName = 'id-${prefix}-${token}'
var logAnalyticsName = 'log-${prefix}-${token}'
var appInsightsName = 'appi-${prefix}-${token}'
var serviceBusName = 'sb-${prefix}-${token}'
var storageAccountName = take('st${replace(prefix, '-', '')}${token}', 24)
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'

// App Service authentication in front of MpeReplay (see functionAppAuth below).
var replayAuth = !empty(replayAuthClientId)
var replayOperatorRole = 'MpeReplay.Operator'

// ARM base URL and token audience of the cloud we are deployed in (sovereign clouds included), without the
// trailing slash: environment().resourceManager is e.g. 'https://management.azure.com/'.
var resourceManager = environment().resourceManager
var armEndpoint = endsWith(resourceManager, '/') ? substring(resourceManager, 0, length(resourceManager) - 1) : resourceManager

// Built-in role definition ids (the same in every cloud).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
}

// ---------------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------------

// The one identity: host storage, deployment storage, Service Bus (host trigger and handler), Application
// Insights, and the handler's ARM calls (its custom role is assigned per subscription by subscription.bicep).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------------

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionInDays
  }
}

// Local (instrumentation key) authentication is off: the host sends telemetry with the identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING below), which needs Monitoring Metrics Publisher here.
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------------------------
// Storage: host storage, deployment package, Event Grid dead letters
// ---------------------------------------------------------------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Event Grid writes undeliverable events here; subscription.bicep gives each system topic's identity
// Storage Blob Data Contributor on this container only.
resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

// ---------------------------------------------------------------------------------------------------
// Service Bus
// ---------------------------------------------------------------------------------------------------

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: serviceBusName
  location: location
  tags: tags
  sku: {
    name: serviceBusSku
    tier: serviceBusSku
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// The work queue. The handler sets a deterministic MessageId per MPE, chain and attempt, so duplicate
// detection collapses duplicate events and duplicate sends within the window.
// lockDuration PT2M: host.json's functionTimeout is 2 minutes, so a message is never unlocked while its
// invocation may still run (a check is a handful of ARM calls, normally well under a second each; the
// Service Bus extension also renews locks). A lost lock would only cause a harmless repeat check.
// maxDeliveryCount 10: the handler itself stops failing a message from its third delivery (it reschedules
// instead), so the dead-letter queue only sees messages the host could not hand over at all.
// defaultMessageTimeToLive P2D: messages carry their own TTL (MPE_MESSAGE_TTL, 24 h); Service Bus applies the
// smaller of the two, so the queue default must be at least that. Expired items go to the dead-letter queue.
resource workQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: serviceBus
  name: workQueueName
  properties: {
    lockDuration: 'PT2M'
    maxDeliveryCount: 10
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: 'P2D'
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    enablePartitioning: false
  }
}

// The parking queue: items that cannot succeed, read by people (mpe-approver status) and moved back by replay
// (MpeReplay or the CLI); no duplicate detection needed. Nothing on it expires or disappears silently:
// defaultMessageTimeToLive is the Service Bus maximum unless parkingMessageTimeToLive says otherwise, and
// then expired items are dead-lettered; maxDeliveryCount (parkingMaxDeliveryCount, 1000) is far above what
// replay scans (each peek-lock receive counts as a delivery) add up to. Both dead-letter queues and the
// parking queue itself are watched by the alerts below.
resource parkingQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: serviceBus
  name: parkingQueueName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: parkingMaxDeliveryCount
    requiresDuplicateDetection: false
    defaultMessageTimeToLive: parkingMessageTimeToLive
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    enablePartitioning: false
  }
}

// ---------------------------------------------------------------------------------------------------
// Alerts: anything parked or dead-lettered
// ---------------------------------------------------------------------------------------------------

// Azure Monitor metric alerts on the namespace's per-queue gauges. Metric names and the dimension are those of
// the Azure Monitor reference "Supported metrics - Microsoft.ServiceBus/Namespaces": ActiveMessages and
// DeadletteredMessages (Count; Average, Minimum, Maximum; dimension EntityName; PT1M grain), in Standard and
// Premium. Stateful (autoMitigate): an alert fires once when its queue becomes non-empty and resolves when
// it is empty again, instead of notifying every evaluation. Every five minutes, over the last fifteen.
var alertActions = empty(actionGroupId) ? [] : [
  {
    actionGroupId: actionGroupId
  }
]

// A parked item: an MPE the approver gave up on (parkreason / parkcode say why): mpe-approver status lists
// them, replay retries them once the cause is fixed.
resource parkedAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${prefix}-${token}-parked'
  location: 'global'
  tags: tags
  properties: {
    description: 'mpe-approver: items on the parking queue (MPEs it could not approve; see mpe-approver status, then replay).'
    severity: 2
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'parked'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ActiveMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                parkingQueue.name
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: alertActions
  }
}

// A dead-lettered item, on either queue: on the work queue a message the host could not hand over 10 times
// or that outlived its time-to-live; on the parking queue one past parkingMaxDeliveryCount or a
// parkingMessageTimeToLive shorter than the default. mpe-approver replay moves them back.
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${prefix}-${token}-deadlettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'mpe-approver: dead-lettered items on the work or parking queue (see mpe-approver status, then replay).'
    severity: 2
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'deadlettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                workQueue.name
                parkingQueue.name
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: alertActions
  }
}

// ---------------------------------------------------------------------------------------------------
// Workbook: what the approver decided, from its events in Application Insights
// ---------------------------------------------------------------------------------------------------

// A shared Azure Monitor workbook on the Application Insights resource (its Workbooks blade lists it):
// approvals over time, time to approve, parked by code, strangers waiting at Private Link Services, ARM
// throttling by subscription. Its queries read the mpe.outcome and mpe.audit events and the handler's
// JSON log lines from `traces` (docs/operations.md); the definition is workbooks/mpe-approver.workbook.json,
// whose every field is checked against events the handler really writes (tests/workbook_fields.rs).
// The name is a GUID (Azure requires one), the same on every deployment of this instance.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, instanceName, 'mpe-approver-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'mpe-approver (${instanceName})'
    description: 'Approvals, time to approve, parked by code, strangers waiting at Private Link Services and ARM throttling, from the approver\'s events.'
    category: 'workbook'
    version: 'Notebook/1.0'
    sourceId: appInsights.id
    serializedData: string(union(loadJsonContent('workbooks/mpe-approver.workbook.json'), {
      fallbackResourceIds: [
        appInsights.id
      ]
    }))
  }
}

// Host name of the namespace, from the endpoint Service Bus reports (https://<ns>.<suffix>:443/), so it is
// right in sovereign clouds too.
var serviceBusFqdn = split(replace(serviceBus.properties.serviceBusEndpoint, 'https://', ''), ':')[0]

// ---------------------------------------------------------------------------------------------------
// Role assignments of the identity (data plane). The ARM role is in subscription.bicep.
// ---------------------------------------------------------------------------------------------------

// The handler sends work items and parked items.
resource serviceBusSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, identity.id, roles.serviceBusDataSender)
  scope: serviceBus
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The Functions host's Service Bus trigger receives from the work queue; MpeReplay receives from the parking
// queue and the work queue's dead-letter queue. The namespace scope covers all of them.
resource serviceBusReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, identity.id, roles.serviceBusDataReceiver)
  scope: serviceBus
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Functions host storage ("Connecting to host storage with an identity"): Storage Blob Data Owner is the
// documented minimum (blob coordination, key store, container creation); it also covers reading and
// writing the Flex deployment package.
resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The same documentation lists Storage Table Data Contributor for the host's diagnostic events (written to
// table storage when, for example, the app cannot start: the first place to look when the custom handler
// does not come up). Storage Queue Data Contributor is only needed by the blob trigger and Durable
// Functions, which this app does not use, so it is not assigned.
resource storageTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Entra-authenticated telemetry ingestion.
resource appInsightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------------
// Role assignments of the operators (operatorPrincipalIds): what the mpe-approver CLI needs, queue by queue
// ---------------------------------------------------------------------------------------------------

// Replay sends work items to the work queue.
resource operatorWorkSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in operatorPrincipalIds: {
  name: guid(workQueue.id, principalId, roles.serviceBusDataSender)
  scope: workQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    description: 'mpe-approver operator: replay queues work items.'
  }
}]

// Replay receives from the work queue's dead-letter queue, which is authorized through the queue's scope
// (<queue>/$DeadLetterQueue is a sub-queue, not an entity of its own).
resource operatorWorkReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in operatorPrincipalIds: {
  name: guid(workQueue.id, principalId, roles.serviceBusDataReceiver)
  scope: workQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    description: 'mpe-approver operator: replay takes dead-lettered work items.'
  }
}]

// Replay receives parked items (and the parking queue's dead letters).
resource operatorParkingReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in operatorPrincipalIds: {
  name: guid(parkingQueue.id, principalId, roles.serviceBusDataReceiver)
  scope: parkingQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    description: 'mpe-approver operator: replay takes parked items.'
  }
}]

// status reads the queues' countDetails through ARM (Microsoft.ServiceBus/namespaces/queues/read).
resource operatorNamespaceReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in operatorPrincipalIds: {
  name: guid(serviceBus.id, principalId, roles.reader)
  scope: serviceBus
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.reader)
    principalId: principalId
    description: 'mpe-approver operator: status reads queue depths.'
  }
}]

// The workbook: Reader on it (to open it) and on Application Insights (its queries read the logs through
// the resource: Microsoft.Insights/components/query/read, with the workspace's resource-context access).
resource operatorWorkbookReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in operatorPrincipalIds: {
  name: guid(workbook.id, principalId, roles.reader)
  scope: workbook
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.reader)
    principalId: principalId
    description: 'mpe-approver operator: opens the workbook.'
  }
}]

resource operatorLogsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in operatorPrincipalIds: {
  name: guid(appInsights.id, principalId, roles.reader)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.reader)
    principalId: principalId
    description: 'mpe-approver operator: the workbook\'s queries read the approver\'s logs.'
  }
}]

// ---------------------------------------------------------------------------------------------------
// Flex Consumption plan and Function App
// ---------------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// App settings. On Flex, FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are not set (see the Flex
// Consumption deprecations in the Functions app settings reference): functionAppConfig.runtime says
// "custom" and the platform sets the host version. Every setting of the handler's configuration contract
// (src/config.rs SETTINGS) appears here by name.
var appSettings = [
  // Host storage, identity-based. Service URIs instead of __accountName so sovereign clouds work.
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identity.properties.clientId
  }
  // Telemetry: the connection string only locates the resource (local auth is disabled); the
  // authentication string makes the host use the identity.
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
  }
  // The Service Bus trigger's connection (function.json: "connection": "ServiceBusConnection"); the
  // handler reads the namespace from the same setting.
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusFqdn
  }
  {
    name: 'ServiceBusConnection__credential'
    value: 'managedidentity'
  }
  {
    name: 'ServiceBusConnection__clientId'
    value: identity.properties.clientId
  }
  // The handler (src/config.rs).
  {
    name: 'AZURE_CLIENT_ID'
    value: identity.properties.clientId
  }
  {
    name: 'MPE_QUEUE_NAME'
    value: workQueue.name
  }
  {
    name: 'MPE_PARKING_QUEUE_NAME'
    value: parkingQueue.name
  }
  {
    name: 'MPE_ARM_ENDPOINT'
    value: armEndpoint
  }
  {
    name: 'MPE_ARM_AUDIENCE'
    value: armEndpoint
  }
  {
    name: 'MPE_SERVICEBUS_ENDPOINT'
    value: 'https://${serviceBusFqdn}'
  }
  {
    name: 'MPE_SERVICEBUS_AUDIENCE'
    value: serviceBusAudience
  }
  {
    name: 'MPE_FIRST_CHECK_DELAY'
    value: firstCheckDelay
  }
  {
    name: 'MPE_CHECK_SCHEDULE'
    value: checkSchedule
  }
  {
    name: 'MPE_CHECK_JITTER'
    value: checkJitter
  }
  {
    name: 'MPE_LEARN_READINESS'
    value: learnReadiness ? 'true' : 'false'
  }
  {
    name: 'MPE_GIVE_UP_AFTER'
    value: giveUpAfter
  }
  {
    name: 'MPE_CHECK_BUDGET'
    value: checkBudget
  }
  {
    name: 'MPE_EVENT_BUDGET'
    value: eventBudget
  }
  {
    name: 'MPE_REPLAY_BUDGET'
    value: replayBudget
  }
  {
    name: 'MPE_MESSAGE_TTL'
    value: messageTtl
  }
  {
    name: 'MPE_REPLAY_MAX'
    value: string(replayMax)
  }
  // The app role MpeReplay requires, only when App Service authentication is configured (replayAuthClientId):
  // only then does the platform write X-MS-CLIENT-PRINCIPAL (without it a caller could send its own). An
  // empty value means "function key only".
  {
    name: 'MPE_REPLAY_ROLE'
    value: replayAuth ? replayOperatorRole : ''
  }
  {
    name: 'MPE_SERVICEBUS_RESOURCE_ID'
    value: serviceBus.id
  }
  // Also read by the Functions host: MpeSweep/function.json has "schedule": "%MPE_SWEEP_SCHEDULE%".
  {
    name: 'MPE_SWEEP_SCHEDULE'
    value: sweepSchedule
  }
  {
    name: 'MPE_SWEEP_SCOPES'
    value: join(sweepScopes, ',')
  }
  {
    name: 'MPE_SWEEP_MAX_CALLS'
    value: string(sweepMaxCalls)
  }
  {
    name: 'MPE_ENDPOINT_NAMES'
    value: endpointNames
  }
  {
    name: 'MPE_CUSTOMER_ENDPOINTS'
    value: string(customerEndpoints)
  }
  {
    name: 'MPE_SWEEP_BUDGET'
    value: sweepBudget
  }
  // Also read by the Functions host: MpePlsScan/function.json has "schedule": "%MPE_PLS_SCHEDULE%".
  {
    name: 'MPE_PLS_SCHEDULE'
    value: plsSchedule
  }
  {
    name: 'MPE_PLS_WATCH'
    value: join(plsWatch, ',')
  }
  // Nothing watched: the timer is off rather than invoked every minute to do nothing.
  {
    name: 'AzureWebJobs.MpePlsScan.Disabled'
    value: empty(plsWatch) ? 'true' : 'false'
  }
  {
    name: 'MPE_PLS_ALLOW'
    value: plsAllowRules
  }
  {
    name: 'MPE_PLS_REQUIRE_MESSAGE'
    value: empty(plsRequireMessage) ? '' : string(plsRequireMessage)
  }
  {
    name: 'MPE_PLS_REJECT_AFTER'
    value: plsRejectAfter
  }
  {
    name: 'MPE_PLS_BUDGET'
    value: plsBudget
  }
  {
    name: 'MPE_PLS_MAX_CALLS'
    value: string(plsMaxCalls)
  }
  {
    name: 'MPE_SYNAPSE'
    value: string(synapse)
  }
  {
    name: 'MPE_SYNAPSE_ENDPOINT'
    value: synapseEndpoint
  }
  {
    name: 'MPE_SYNAPSE_AUDIENCE'
    value: synapseAudience
  }
  // Also read by the Functions host: MpeDiscover/function.json has "schedule": "%MPE_DISCOVER_SCHEDULE%".
  {
    name: 'MPE_DISCOVER_SCHEDULE'
    value: discoverSchedule
  }
  {
    name: 'MPE_DATABRICKS'
    value: string(databricks)
  }
  {
    name: 'MPE_DATABRICKS_NCCS'
    value: join(databricksNccs, ',')
  }
  {
    name: 'MPE_DATABRICKS_ENDPOINT'
    value: databricksEndpoint
  }
  {
    name: 'MPE_DATABRICKS_AUDIENCE'
    value: databricksAudience
  }
  {
    name: 'MPE_FABRIC'
    value: string(fabric)
  }
  {
    name: 'MPE_FABRIC_WORKSPACES'
    value: join(fabricWorkspaces, ',')
  }
  {
    name: 'MPE_FABRIC_ENDPOINT'
    value: fabricEndpoint
  }
  {
    name: 'MPE_FABRIC_AUDIENCE'
    value: fabricAudience
  }
  // No source without ARM events turned on: the timer is off rather than invoked every minute to do nothing.
  {
    name: 'AzureWebJobs.MpeDiscover.Disabled'
    value: synapse || databricks || fabric ? 'false' : 'true'
  }
  {
    name: 'MPE_DISCOVER_BUDGET'
    value: discoverBudget
  }
  {
    name: 'MPE_DISCOVER_MAX_CALLS'
    value: string(discoverMaxCalls)
  }
  {
    name: 'MPE_DRY_RUN'
    value: dryRun ? 'true' : 'false'
  }
  {
    name: 'MPE_SOURCE_SUBSCRIPTIONS'
    value: join(sourceSubscriptions, ',')
  }
  {
    name: 'MPE_TARGET_SUBSCRIPTIONS'
    value: join(targetSubscriptions, ',')
  }
  {
    name: 'MPE_ALLOW'
    value: allowRules
  }
  {
    name: 'RUST_LOG'
    value: rustLog
  }
  {
    name: 'MPE_LOG_FORMAT'
    value: 'json'
  }
]

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Only appSettings and minTlsVersion here: Flex rejects many siteConfig properties (linuxFxVersion,
    // alwaysOn, functionAppScaleLimit, ...); runtime and scale live in functionAppConfig.
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // The Flex runtime stack list gives the custom handler runtime version '1.0'.
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
  // Let the roles exist before the host first starts (role propagation can still take a few minutes).
  dependsOn: [
    storageBlobOwner
    storageTableContributor
    serviceBusReceiver
    serviceBusSender
    appInsightsPublisher
  ]
}

// No basic-auth publishing: FTP and the SCM site accept Entra ID only (az functionapp deployment uses it).
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service authentication ("Easy Auth", only with replayAuthClientId): every request needs an Entra ID
// token for the app registration, else 401 (an API: no login redirects, no token store), and the platform
// passes the caller's claims to the handler in X-MS-CLIENT-PRINCIPAL, where MpeReplay checks the roles
// claim for MPE_REPLAY_ROLE. The function key is still required on /api/replay (authLevel: function).
// Excluded: /runtime/webhooks/eventgrid, where Event Grid delivers to MpeEvent with the Event Grid system key
// and no Entra token (the Functions host's /admin endpoints are not blocked by App Service authentication;
// the Service Bus and timer triggers are not HTTP). Properties: Microsoft.Web/sites/config 'authsettingsV2'
// (SiteAuthSettingsV2 in the 2024-04-01 specification). The issuer is the tenant's v2.0 endpoint: the app
// registration should issue v2 tokens (api.requestedAccessTokenVersion 2), whose audience is the client id.
resource functionAppAuth 'Microsoft.Web/sites/config@2024-04-01' = if (replayAuth) {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    // checkov reads every sites/config as the v1 authsettings (properties.enabled) or as the web config;
    // authsettingsV2 turns authentication on with platform.enabled and has none of the web config's properties.
    // checkov:skip=CKV_AZURE_13: authentication is on (platform.enabled: authsettingsV2, not the v1 authsettings)
    // checkov:skip=CKV_AZURE_63: HTTP logging belongs to the web config, not to authsettingsV2
    // checkov:skip=CKV_AZURE_65: detailed error messages belong to the web config, not to authsettingsV2
    // checkov:skip=CKV_AZURE_66: failed request tracing belongs to the web config, not to authsettingsV2
    // checkov:skip=CKV_AZURE_80: no .NET Framework (a custom handler); the web config, not authsettingsV2
    // checkov:skip=CKV_AZURE_88: Azure Files belongs to the web config (and Flex mounts no content share)
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/runtime/webhooks/eventgrid'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: replayAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            replayAuthClientId
            'api://${replayAuthClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Outputs (what subscription.bicep and the deploy commands need)
// ---------------------------------------------------------------------------------------------------

@description('Name of the Function App (for the code deployment).')
output functionAppName string = functionApp.name

@description('Resource id of the Function App (subscription.bicep: functionAppId).')
output functionAppId string = functionApp.id

@description('Host name of the Function App (MpeReplay: POST https://<host>/api/replay).')
output functionAppHostName string = functionApp.properties.defaultHostName

@description('Principal (object) id of the identity (subscription.bicep: identityPrincipalId).')
output identityPrincipalId string = identity.properties.principalId

@description('Client id of the identity (AZURE_CLIENT_ID; for running mpe-approver replay with the same identity).')
output identityClientId string = identity.properties.clientId

@description('Resource id of the identity.')
output identityId string = identity.id

@description('Fully qualified Service Bus namespace (ServiceBusConnection__fullyQualifiedNamespace).')
output serviceBusNamespaceFqdn string = serviceBusFqdn

@description('Resource id of the Service Bus namespace.')
output serviceBusNamespaceId string = serviceBus.id

@description('The work queue (MPE_QUEUE_NAME).')
output workQueueName string = workQueue.name

@description('The parking queue (MPE_PARKING_QUEUE_NAME).')
output parkingQueueName string = parkingQueue.name

@description('Resource id of the storage account (subscription.bicep: deadLetterStorageAccountId).')
output storageAccountId string = storage.id

@description('Name of the storage account.')
output storageAccountName string = storage.name

@description('Blob container holding the Flex deployment package.')
output deploymentContainerName string = deploymentContainer.name

@description('Blob container for Event Grid dead letters (subscription.bicep: deadLetterContainerName).')
output deadLetterContainerName string = deadLetterContainer.name

@description('Application Insights resource id.')
output appInsightsId string = appInsights.id

@description('Resource id of the workbook (Azure portal: the Application Insights resource, Workbooks).')
output workbookId string = workbook.id

@description('Resource ids of the alerts on parked and dead-lettered items.')
output alertIds array = [
  parkedAlert.id
  deadLetterAlert.id
]

@description('The app role MpeReplay requires (MPE_REPLAY_ROLE); empty without replayAuthClientId.')
output replayOperatorRole string = replayAuth ? replayOperatorRole : ''
