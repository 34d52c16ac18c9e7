// Initiates the replica set rs0 of mongo1, mongo2 and mongo3 (run by the service mongo-init with mongosh),
// then waits until it has a primary. A second run finds the set initiated and only waits.
const members = [
  { _id: 0, host: "mongo1:27017" },
  { _id: 1, host: "mongo2:27017" },
  { _id: 2, host: "mongo3:27017" },
];
let initiated = false;
try {
  rs.status();
  initiated = true;
} catch (e) {
  if (e.codeName !== "NotYetInitialized") throw e;
}
if (!initiated) {
  printjson(rs.initiate({ _id: "rs0", members: members }));
}
const deadline = Date.now() + 120 * 1000;
for (;;) {
  const status = rs.status();
  if (status.members.some((m) => m.stateStr === "PRIMARY")) {
    print("replica set rs0 has a primary");
    break;
  }
  if (Date.now() > deadline) {
    throw new Error("replica set rs0 has no primary after 120 s");
  }
  sleep(1000);
}
