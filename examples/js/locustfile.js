// Locust-style users in JavaScript: a shopper (weighted tasks, a task set, a sequential
// checkout, tags, catchResponse, onStart/onStop) and an admin, three shoppers to one admin. The login lives in common/auth.js beside it
// (bundled into the component at build time). Run it with:
//
//   locust -f examples/js/locustfile.js --demo
//
// Options of your own (`--shop-items`) come from events.initCommandLineParser.
import {
  HttpUser, TaskSet, SequentialTaskSet, task, tag, between, constant, events, log,
} from 'locust';

import { login } from './common/auth.js';

events.initCommandLineParser.addListener((parser) => {
  parser.addArgument('--shop-items', { default: 10, help: 'How many items the shop has' });
});

/** Browse items until bored: three items for every time it leaves. */
class Browse extends TaskSet {
  static tasks = [task(3, 'viewItem'), task(1, 'leave')];

  viewItem() {
    const items = Number(this.environment.parsedOptions.shopItems);
    const id = 1 + Math.floor(Math.random() * items);
    this.client.get('/item', { params: { id }, name: '/item' });
  }

  leave() {
    this.interrupt();
  }
}

/** Put one item in the cart, pay, and leave: always in that order. */
class Checkout extends SequentialTaskSet {
  static tasks = ['addToCart', 'pay', 'leave'];

  addToCart() {
    this.client.post('/cart', { json: { item: 1, quantity: 2 } });
  }

  pay() {
    // This shop answers 402 while payments are switched off: expected, not a failure.
    const response = this.client.post('/status/402', { name: '/pay', catchResponse: true });
    if (response.status === 402) response.success();
    else response.failure(`payment answered ${response.status}`);
  }

  leave() {
    this.interrupt();
  }
}

export class ShopUser extends HttpUser {
  static weight = 3;
  static waitTime = constant(0);
  static tasks = [
    task(4, 'index'),
    task(2, Browse),
    tag('checkout', task(1, Checkout)),
    tag('search', 'search'),
  ];

  onStart() {
    login(this.client, 'foo', 'bar');
  }

  onStop() {
    this.client.post('/logout', { timeout: 5 });
  }

  index() {
    this.client.get('/');
  }

  search() {
    // The demo shop has no search: its "ok" page is not a result list, so this fails.
    const response = this.client.get('/search', { params: { q: 'shoes' }, name: '/search', catchResponse: true });
    if (!response.text().includes('results')) response.failure('no results');
  }
}

/** One admin for every three shoppers: the shop's back office, behind basic auth. */
export class AdminUser extends HttpUser {
  static weight = 1;
  static waitTime = between(0.1, 0.2);
  static tasks = ['stats'];

  stats() {
    this.client.get('/auth', { auth: ['alice', 'secret'], headers: { accept: 'text/plain' }, name: '/admin' });
  }
}

events.testStart.addListener(() => log.info('the shop opens'));
