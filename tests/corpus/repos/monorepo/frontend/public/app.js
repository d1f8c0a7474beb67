// The page asks the orders service for its catalogue (same origin in production, behind the load balancer).
const ORDERS_URL = window.ORDERS_URL || "/api/orders";

async function loadCatalogue() {
  const status = document.getElementById("status");
  try {
    const response = await fetch(`${ORDERS_URL}/catalogue`);
    const items = await response.json();
    const list = document.getElementById("catalogue");
    for (const item of items) {
      const li = document.createElement("li");
      li.textContent = `${item.name}: ${(item.price_cents / 100).toFixed(2)} EUR`;
      list.appendChild(li);
    }
    status.textContent = "";
  } catch (err) {
    status.textContent = "The catalogue is not available right now.";
  }
}

loadCatalogue();
