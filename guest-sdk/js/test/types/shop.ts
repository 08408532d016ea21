// Type-checked against types/locust.d.ts (`tsc -p test/types`): the SDK's types must accept
// the Locust-style API as the README shows it.
import {
  HttpUser, TaskSet, SequentialTaskSet, task, tag, between, constant, events, log, StopUser,
  type Response,
} from 'locust';

events.initCommandLineParser.addListener((parser) => {
  parser.addArgument('--shop-items', { default: 10, help: 'How many items the shop has' });
});

class Browse extends TaskSet {
  static tasks = [task(3, 'viewItem'), task(1, 'leave')];
  viewItem(): void {
    const items = Number(this.environment.parsedOptions.shopItems);
    this.client.get('/item', { params: { id: 1 + Math.floor(Math.random() * items) }, name: '/item' });
  }
  leave(): void {
    this.interrupt();
  }
}

class Checkout extends SequentialTaskSet {
  static tasks = ['addToCart', 'pay'];
  addToCart(): void {
    this.client.post('/cart', { json: { item: 1 } });
  }
  pay(): void {
    const response: Response = this.client.post('/pay', { catchResponse: true });
    if (response.status === 402) response.success();
    else response.failure(`payment answered ${response.status}`);
    this.interrupt(false);
  }
}

export class ShopUser extends HttpUser {
  static waitTime = between(0.5, 2);
  static weight = 2;
  static tasks = [task(4, 'index'), task(2, Browse), tag('checkout', task(1, Checkout))];
  onStart(): void {
    this.client.post('/login', { data: { username: 'foo', password: 'bar' }, auth: ['a', 'b'], timeout: 5 });
  }
  index(): void {
    const page = this.client.get('/');
    if (!page.ok) throw new StopUser(page.error);
    log.info('front page', page.headers['content-type'], page.text().length);
  }
}

export class Admin extends HttpUser {
  static waitTime = constant(1);
  static tasks = { report: 1 };
  report(): void {
    const stats = this.client.get('/stats').json<{ users: number }>();
    log.debug(stats.users);
  }
}

events.testStart.addListener(() => log.info('the shop opens'));
