// mpe-approver: the Event Grid part of subscription.bicep, in the resource group that holds (or will hold)
// the subscription's system topic. Sends successful writes of the supported MPE types to the MpeEvent
// function (which must already be deployed), one event per invocation, in the Event Grid schema that the
// eventGridTrigger binding expects.
//
// Dead letters: events Event Grid gives up on go to a blob container in the approver's storage account
// (shared-key access is off there, so the topic must use a managed identity). The topic's own
// system-assigned identity is used, with Storage Blob Data Contributor on that one container only
// (modules/deadletter-access.bicep, deployed into the main resource group, which may be in another
// subscription). Giving the topic the approver's user-assigned identity instead would need no extra role,
// but it would let anyone who can edit event subscriptions on this topic deliver with an identity that can
// approve private endpoint connections and send to the work queue; a separate, narrow identity avoids that.

targetScope = 'resourceGroup'

@description('Use the existing system topic named systemTopicName instead of creating it. It must have a system-assigned identity.')
param useExistingSystemTopic bool

@description('Name of the system topic (created, or existing).')
param systemTopicName string

@description('Name of the event subscription.')
param eventSubscriptionName string

@description('Resource id of the Function App; the destination is its MpeEvent function.')
param functionAppId string

@description('Resource id of the storage account for dead letters.')
param deadLetterStorageAccountId string

@description('Blob container for dead letters.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered (Event Grid allows 1 to 30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an undelivered event is retried before it is dead-lettered (Event Grid allows 1 to 1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Name of the approver instance (subscription.bicep instanceName); the default instance keeps the original names.')
param instanceName string = 'default'

@description('Tags for the system topic.')
param tags object = {}

// The MPE write operations the handler acts on, as `mpe-approver print operations` generates them.
// Never copied here: loaded. Event Grid allows 25 values across all advanced filters of a subscription.
var watchedOperations = loadJsonContent('../generated/operations.json')

// /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>
var deadLetterIdParts = split(deadLetterStorageAccountId, '/')

resource newTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (!useExistingSystemTopic) {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

// The topic either way: the one just created (hence the dependsOn below) or the existing one.
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

module deadLetterAccess 'deadletter-access.bicep' = {
  // Unique per watched subscription: all of them deploy into the main resource group.
  // (Deployment names have at most 64 characters: another instance's uses a hash of the subscription id.)
  name: instanceName == 'default' ? 'mpe-approver-deadletter-${subscription().subscriptionId}' : 'mpe-approver-${instanceName}-dl-${uniqueString(subscription().id)}'
  scope: resourceGroup(deadLetterIdParts[2], deadLetterIdParts[4])
  params: {
    storageAccountName: deadLetterIdParts[8]
    containerName: deadLetterContainerName
    principalId: topic.identity.principalId
  }
  dependsOn: [
    newTopic
  ]
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: eventSubscriptionName
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/MpeEvent'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: watchedOperations
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
  dependsOn: [
    newTopic
    deadLetterAccess
  ]
}

@description('Name of the system topic.')
output systemTopicName string = topic.name

@description('Name of the event subscription.')
output eventSubscriptionName string = eventSubscription.name

@description('Principal id of the system topic\'s identity (granted on the dead-letter container).')
output systemTopicPrincipalId string = topic.identity.principalId
